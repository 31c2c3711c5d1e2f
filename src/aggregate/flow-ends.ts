// Connection ends (probes/flow-ends) → which tracked flows are over.
// A flow record and a closing socket meet on (netns, the two endpoints in
// either order): a drop record says source→destination of the packet, a
// retransmit local→peer, incoming loss peer→local; all are the same
// connection. IPv4-mapped IPv6 (dual-stack sockets) is compared as IPv4,
// because the drop probe reads the packet's own IPv4 header.
import type { EcsRecord } from '../record/ecs.js';
import type { FlowEndWire } from '../decode/wire.js';
import { wireAddresses } from '../decode/address.js';

export type EndReason = 'fin' | 'reset';

// TCP states (include/net/tcp_states.h) from which TCP_CLOSE is an orderly close.
const ORDERLY_FROM = new Set([4 /* FIN_WAIT1 */, 5 /* FIN_WAIT2 */, 6 /* TIME_WAIT */, 9 /* LAST_ACK */, 11 /* CLOSING */]);

export function endReason(oldstate: number): EndReason {
  return ORDERLY_FROM.has(oldstate) ? 'fin' : 'reset';
}

const unmap = (ip: string) => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip);

export function connectionKey(netns: number, a: { ip: string; port: number }, b: { ip: string; port: number }): string {
  const x = `${unmap(a.ip)}|${a.port}`;
  const y = `${unmap(b.ip)}|${b.port}`;
  return x < y ? `${netns}|${x}|${y}` : `${netns}|${y}|${x}`;
}

/** The connection a flow record belongs to, or null (no ports: ICMP, non-IP, overflow). */
export function connectionKeyOfRecord(r: EcsRecord): string | null {
  const src = r.source as { ip?: string; port?: number } | undefined;
  const dst = r.destination as { ip?: string; port?: number } | undefined;
  const netns = (r.droptrace as { netns?: { inode?: number } } | undefined)?.netns?.inode;
  if (r.network?.transport !== 'tcp' || !src?.ip || !dst?.ip || src.port === undefined || dst.port === undefined || netns === undefined) return null;
  return connectionKey(netns, { ip: src.ip, port: src.port }, { ip: dst.ip, port: dst.port });
}

export function connectionKeyOfEnd(e: FlowEndWire): string {
  // The probe prints l3 4 or 6 only (a TCP socket's family).
  const [local, peer] = wireAddresses(e);
  return connectionKey(e.netns, { ip: local ?? '', port: e.sport }, { ip: peer ?? '', port: e.dport });
}

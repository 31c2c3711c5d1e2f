// TCP socket events (probes/retransmits, synack-retransmits, loss-probes):
// the retransmit type from the socket's state (./tcp.ts), this host as the
// source of the lost packets.
import type { EcsRecord, RetransmitType } from '../record/ecs.js';
import type { EventWire } from '../decode/wire.js';
import type { EnrichContext } from './context.js';
import { tcpStateName, caStateName, retransmitType, tcpEndpoints } from './tcp.js';

/** What probes/shared/tcp-socket-fields.bt.inc prints (an event from a map key lacks retransmits, len, segs and cpu). */
export interface TcpSockWire extends EventWire {
  t: 'retrans' | 'synack' | 'tlp';
  ts: number; state: number; ca_state: number; pending: number; retransmits?: number;
  netns: number; l3: number; s4?: number; d4?: number; s6?: string; d6?: string;
  sport?: number; dport: number; len?: number; cpu?: number;
  /** GSO/TSO segments of the retransmitted skb (tcp_skb_pcount); absent from older probe output. */
  segs?: number;
}

export function enrichTcpSocket(c: EnrichContext, e: EventWire): EcsRecord {
  const ev = e as TcpSockWire;
  let type: RetransmitType;
  let action: 'tcp-retransmit' | 'tcp-loss-probe';
  let tlpSource: 'observed' | 'inferred' | undefined;
  if (ev.t === 'synack') {
    type = 'synack';
    action = 'tcp-retransmit';
  } else if (ev.t === 'tlp') {
    type = 'tlp';
    action = 'tcp-loss-probe';
    tlpSource = 'observed';
  } else {
    type = retransmitType(ev.state, ev.ca_state, ev.pending);
    // With an observed TLP signal the probe event itself is the
    // tcp-loss-probe record; its retransmitted segment stays a retransmit.
    action = type === 'tlp' && !c.tlpObserved ? 'tcp-loss-probe' : 'tcp-retransmit';
    if (type === 'tlp' && !c.tlpObserved) tlpSource = 'inferred';
  }
  return {
    '@timestamp': c.iso(ev.ts),
    event: { kind: 'event', category: ['network'], type: ['connection'], action, dataset: 'droptrace.retransmits', reason: type },
    network: { type: ev.l3 === 6 ? 'ipv6' : 'ipv4', transport: 'tcp', iana_number: '6', direction: 'egress' },
    ...tcpEndpoints(ev),
    host: { name: c.hostName },
    droptrace: {
      id: c.id(ev),
      retransmit: { type, ...(tlpSource ? { tlp_source: tlpSource } : {}) },
      tcp: {
        state: tcpStateName(ev.state),
        ...(ev.t === 'synack' ? {} : { ca_state: caStateName(ev.ca_state), ...(ev.retransmits !== undefined ? { retransmits: ev.retransmits } : {}) }),
      },
      ...(ev.netns !== undefined ? { netns: { inode: ev.netns } } : {}),
      path: 'local-out',
      ...(ev.len ? { bytes: ev.len } : {}),
      ...(ev.segs !== undefined && ev.t === 'retrans' ? { segments: ev.segs } : {}),
    },
  } as EcsRecord;
}

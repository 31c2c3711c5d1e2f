// TCP resets (probes/resets): sent by this host, with the kernel's reason
// (enum sk_rst_reason, 6.10+, named by the running kernel), or received; the
// reset's own source and destination; the socket's TCP state when it fired.
import type { EcsRecord } from '../record/ecs.js';
import type { EventWire } from '../decode/wire.js';
import type { EnrichContext } from './context.js';
import { tcpStateName, tcpEndpoints } from './tcp.js';

/** What probes/resets prints (an event from a map key lacks cpu). */
export interface ResetWire extends EventWire {
  t: 'reset';
  /** 1 sent by this host, 2 received. */
  dir: number;
  /** TCP state when it fired; 0: no socket (a reset answering a packet no socket took). */
  state: number;
  /** enum sk_rst_reason of a sent reset; NO_REASON when the kernel gives none. */
  reason: number;
  ts: number; netns: number; l3: number; s4?: number; d4?: number; s6?: string; d6?: string; sport?: number; dport: number; cpu?: number;
}

/** The probe's "no reason" (a received reset, or a kernel before 6.10). */
export const NO_REASON = 65535;

export function enrichReset(c: EnrichContext, e: EventWire): EcsRecord {
  const ev = e as ResetWire;
  const sent = ev.dir === 1;
  const state = ev.state ? tcpStateName(ev.state) : undefined;
  const reason = sent && ev.reason !== NO_REASON ? c.names.resetReason?.name(ev.reason) ?? `UNKNOWN_${ev.reason}` : undefined;
  return {
    '@timestamp': c.iso(ev.ts),
    event: {
      kind: 'event', category: ['network'], type: ['connection', 'end'], action: sent ? 'tcp-reset-sent' : 'tcp-reset-received', dataset: 'droptrace.retransmits',
      // Why: the kernel's reason for one it sent; for one it accepted, the state the connection was in (SYN_SENT: refused).
      ...(reason ?? state ? { reason: reason ?? state } : {}),
    },
    network: { ...(ev.l3 ? { type: ev.l3 === 6 ? 'ipv6' : 'ipv4' } : {}), transport: 'tcp', iana_number: '6', direction: sent ? 'egress' : 'ingress' },
    ...tcpEndpoints(ev),
    host: { name: c.hostName },
    droptrace: {
      id: c.id(ev),
      reset: { direction: sent ? 'sent' : 'received', ...(reason ? { reason, reason_code: ev.reason } : {}) },
      ...(state ? { tcp: { state } } : {}),
      ...(ev.netns ? { netns: { inode: ev.netns } } : {}),
      path: sent ? 'local-out' : 'local-in',
    },
  } as EcsRecord;
}

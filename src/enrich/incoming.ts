// Incoming loss (probes/incoming-loss): the lost packets came from the peer
// (source) toward us.
import type { EcsRecord } from '../record/ecs.js';
import type { EventWire } from '../decode/wire.js';
import type { EnrichContext } from './context.js';
import { tcpEndpoints } from './tcp.js';

/** What probes/incoming-loss prints: s* is the peer (an event from a map key lacks seq, rcv_nxt, len, segs and cpu). */
export interface IncomingWire extends EventWire {
  t: 'incoming';
  /** 1 out-of-order (new hole), 2 hole-filling retransmit, 3 duplicate. */
  action: number;
  ts: number; seq?: number; rcv_nxt?: number; netns: number; l3: number; s4?: number; d4?: number; s6?: string; d6?: string;
  sport?: number; dport: number; len?: number; cpu?: number;
  /** Segments of the arriving skb (GRO: several). */
  segs?: number;
}

const INCOMING_ACTIONS = { 1: 'tcp-incoming-out-of-order', 2: 'tcp-incoming-retransmit', 3: 'tcp-incoming-duplicate' } as const;

export function incomingAction(code: number): (typeof INCOMING_ACTIONS)[1 | 2 | 3] | undefined {
  return INCOMING_ACTIONS[code as 1 | 2 | 3];
}

export function enrichIncoming(c: EnrichContext, e: EventWire): EcsRecord {
  const ev = e as IncomingWire;
  const action = incomingAction(ev.action) ?? 'tcp-incoming-out-of-order';
  return {
    '@timestamp': c.iso(ev.ts),
    event: { kind: 'event', category: ['network'], type: ['connection'], action, dataset: 'droptrace.retransmits', reason: action.slice('tcp-incoming-'.length) },
    network: { type: ev.l3 === 6 ? 'ipv6' : 'ipv4', transport: 'tcp', iana_number: '6', direction: 'ingress' },
    ...tcpEndpoints(ev),
    host: { name: c.hostName },
    droptrace: {
      id: c.id(ev),
      ...(ev.seq !== undefined ? { incoming: { seq: ev.seq, rcv_nxt: ev.rcv_nxt } } : {}),
      ...(ev.netns !== undefined ? { netns: { inode: ev.netns } } : {}),
      path: 'local-in',
      ...(ev.len ? { bytes: ev.len } : {}),
      ...(ev.segs !== undefined ? { segments: ev.segs } : {}),
    },
  } as EcsRecord;
}

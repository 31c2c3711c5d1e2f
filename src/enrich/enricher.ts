// Wire event → ECS record: symbolized location, reason name from the running
// kernel, interface name, TCP state names, direction and path. Enrichment
// failures never drop an event: missing names are simply left out.
import type { EcsRecord, RetransmitType } from '../record/ecs.js';
import type { DropWire, TcpSockWire, IncomingWire, EventWire } from '../decode/wire.js';
import { wireAddresses } from '../decode/address.js';
import type { KallsymsSymbolizer } from './kallsyms.js';
import type { ReasonTable } from './reasons.js';
import type { InterfaceResolver } from './interfaces.js';
import { PathClassifier } from './direction.js';
import { MonotonicToWall } from './clock.js';
import { tcpStateName, caStateName, retransmitType } from './tcp.js';

const TRANSPORTS: Record<number, string> = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 51: 'ah', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite' };

export interface EnricherDeps {
  symbols: KallsymsSymbolizer;
  reasons: ReasonTable;
  interfaces?: InterfaceResolver;
  hostName: string;
  clock?: MonotonicToWall;
  /** True when loss probes are observed directly (fentry/kprobe). */
  tlpObserved?: boolean;
}

export class Enricher {
  private readonly paths: PathClassifier;
  private readonly clock: MonotonicToWall;
  private lastIdKey = '';
  private idSeq = 0;

  constructor(private readonly d: EnricherDeps) {
    const ifs = d.interfaces;
    this.paths = new PathClassifier(d.symbols, ifs?.isLocalAddress ? (ns, ip) => ifs.isLocalAddress(ns, ip) : undefined);
    this.clock = d.clock ?? new MonotonicToWall();
  }

  private id(ev: { ts: number; cpu: number; t: string }): string {
    // ts + cpu is unique per event except for bursts freed in the same ns on
    // one CPU; a sequence number disambiguates those.
    const key = `${ev.ts}-${ev.cpu}-${ev.t}`;
    this.idSeq = key === this.lastIdKey ? this.idSeq + 1 : 0;
    this.lastIdKey = key;
    return `${this.d.hostName}-${key}-${this.idSeq}`;
  }

  /** Kernel address → location, for callers outside the per-event path (stacks). */
  symbolize(hexAddress: string) {
    return this.d.symbols.lookup(hexAddress);
  }

  drop(ev: DropWire): EcsRecord {
    // Hot path (one call per streamed drop): plain property assignments in a
    // fixed order instead of conditional spreads, and cached strings: fewer
    // allocations per event, same JSON (key order included).
    const [sip, dip] = wireAddresses(ev);
    const loc = this.d.symbols.lookup(ev.loc);
    const { direction, path } = this.paths.classify({ iif: ev.iif, dst_in: ev.dst_in, local: ev.local, netns: ev.netns, symbol: loc.symbol, dst: dip });
    const l3 = ev.l3;
    const l4 = ev.l4;
    const hasPorts = l4 === 6 || l4 === 17 || l4 === 132 || l4 === 136;
    const network: Record<string, unknown> = {};
    if (l3) {
      network.type = l3 === 6 ? 'ipv6' : 'ipv4';
      const transport = TRANSPORTS[l4];
      if (transport) network.transport = transport;
      network.iana_number = ianaNumber(l4);
    }
    network.direction = direction;
    const rec: Record<string, unknown> = {
      '@timestamp': this.iso(ev.ts),
      event: { kind: 'event', category: ['network'], type: ['denied'], action: 'packet-dropped', dataset: 'droptrace.drops', reason: this.d.reasons.name(ev.reason) },
      network,
    };
    if (sip !== undefined) rec.source = hasPorts ? { ip: sip, port: ev.sport } : { ip: sip };
    if (dip !== undefined) rec.destination = hasPorts ? { ip: dip, port: ev.dport } : { ip: dip };
    rec.host = { name: this.d.hostName };
    // The device the packet came in on (ingress) or is leaving through (egress).
    const ifindex = direction === 'ingress' ? ev.iif : ev.ifindex;
    if (ifindex) {
      const ifname = this.d.interfaces?.nameOf(ev.netns, ifindex);
      const iface = { interface: ifname !== undefined ? { id: String(ifindex), name: ifname } : { id: String(ifindex) } };
      rec.observer = direction === 'ingress' ? { ingress: iface } : { egress: iface };
    }
    const location: Record<string, unknown> = { address: loc.address };
    if (loc.symbol) {
      location.symbol = loc.symbol;
      location.offset = loc.offset;
    }
    if (loc.module) location.module = loc.module;
    const dt: Record<string, unknown> = {
      id: this.id(ev),
      drop: { reason_code: ev.reason, location },
      netns: { inode: ev.netns },
      path,
      bytes: ev.len,
    };
    if (l3 === 0) dt.ethertype = ev.eth;
    if (l4 === 6) dt.tcp = { flags: tcpFlags(ev.tflags) };
    if (l4 === 1 || l4 === 58) dt.icmp = { type: ev.icmp_type, code: ev.icmp_code };
    rec.droptrace = dt;
    return rec as unknown as EcsRecord;
  }

  private isoMs = NaN;
  private isoText = '';
  /** ISO time of a kernel timestamp; events within one millisecond share the string. */
  private iso(monoNs: number): string {
    const ms = Math.floor(this.clock.toWallMs(monoNs));
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.isoText = new Date(ms).toISOString();
    }
    return this.isoText;
  }

  tcpSock(ev: TcpSockWire): EcsRecord {
    const [sip, dip] = wireAddresses(ev);
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
      action = type === 'tlp' && !this.d.tlpObserved ? 'tcp-loss-probe' : 'tcp-retransmit';
      if (type === 'tlp' && !this.d.tlpObserved) tlpSource = 'inferred';
    }
    return {
      '@timestamp': this.iso(ev.ts),
      event: { kind: 'event', category: ['network'], type: ['connection'], action, dataset: 'droptrace.retransmits', reason: type },
      network: { type: ev.l3 === 6 ? 'ipv6' : 'ipv4', transport: 'tcp', iana_number: '6', direction: 'egress' },
      ...(sip !== undefined ? { source: { ip: sip, port: ev.sport } } : {}),
      ...(dip !== undefined ? { destination: { ip: dip, port: ev.dport } } : {}),
      host: { name: this.d.hostName },
      droptrace: {
        id: this.id(ev),
        retransmit: { type, ...(tlpSource ? { tlp_source: tlpSource } : {}) },
        tcp: {
          state: tcpStateName(ev.state),
          ...(ev.t === 'synack' ? {} : { ca_state: caStateName(ev.ca_state), retransmits: ev.retransmits }),
        },
        netns: { inode: ev.netns },
        path: 'local-out',
        ...(ev.len ? { bytes: ev.len } : {}),
        ...(ev.segs !== undefined && ev.t === 'retrans' ? { segments: ev.segs } : {}),
      },
    } as EcsRecord;
  }

  /** Receiver-side loss: the lost packets came from the peer (source) toward us. */
  incoming(ev: IncomingWire): EcsRecord {
    const [sip, dip] = wireAddresses(ev);
    const action = incomingAction(ev.action) ?? 'tcp-incoming-out-of-order';
    return {
      '@timestamp': this.iso(ev.ts),
      event: { kind: 'event', category: ['network'], type: ['connection'], action, dataset: 'droptrace.retransmits', reason: action.slice('tcp-incoming-'.length) },
      network: { type: ev.l3 === 6 ? 'ipv6' : 'ipv4', transport: 'tcp', iana_number: '6', direction: 'ingress' },
      ...(sip !== undefined ? { source: { ip: sip, port: ev.sport } } : {}),
      ...(dip !== undefined ? { destination: { ip: dip, port: ev.dport } } : {}),
      host: { name: this.d.hostName },
      droptrace: {
        id: this.id(ev),
        incoming: { seq: ev.seq, rcv_nxt: ev.rcv_nxt },
        netns: { inode: ev.netns },
        path: 'local-in',
        ...(ev.len ? { bytes: ev.len } : {}),
        ...(ev.segs !== undefined ? { segments: ev.segs } : {}),
      },
    } as EcsRecord;
  }
}

const INCOMING_ACTIONS = { 1: 'tcp-incoming-out-of-order', 2: 'tcp-incoming-retransmit', 3: 'tcp-incoming-duplicate' } as const;

export function incomingAction(code: number): (typeof INCOMING_ACTIONS)[1 | 2 | 3] | undefined {
  return INCOMING_ACTIONS[code as 1 | 2 | 3];
}

export function enrichEvent(e: Enricher, ev: EventWire): EcsRecord {
  if (ev.t === 'drop') return e.drop(ev);
  if (ev.t === 'incoming') return e.incoming(ev);
  return e.tcpSock(ev);
}

const FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];
export function tcpFlags(bits: number): string[] {
  return FLAG_NAMES.filter((_, i) => bits & (1 << i));
}

const IANA = Array.from({ length: 256 }, (_, i) => String(i));
const ianaNumber = (l4: number) => IANA[l4] ?? String(l4);

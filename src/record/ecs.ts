// The records droptrace emits to every sink (terminal --json, files,
// Elasticsearch): ECS-shaped, custom fields under `droptrace.*`.
// See README "Record fields" for each field's meaning.

/**
 * What a kernel signal's record is about, named by the signal's enrich
 * function (src/enrich/signals.ts): 'packet-dropped', or a TCP event —
 * tcp-retransmit, tcp-loss-probe, tcp-incoming-out-of-order,
 * tcp-incoming-retransmit, tcp-incoming-duplicate (tcp-incoming-loss for
 * unattributed incoming-loss counts); capture analysis adds
 * tcp-fast-retransmit, tcp-spurious-retransmit, tcp-out-of-order,
 * tcp-lost-segment, tcp-dup-ack, tcp-zero-window, tcp-window-full,
 * tcp-keep-alive, tcp-zero-window-probe, tcp-sack, tcp-dsack,
 * tcp-acked-unseen (src/pcap/analysis/categories.ts). A new TCP signal names
 * its own without a change here.
 */
export type SignalAction = 'packet-dropped' | `tcp-${string}`;

export type Action =
  | SignalAction
  | 'pcap-file'
  | 'events-lost'
  | 'tracer-gap'
  | 'self-stats'
  | 'kernel-coverage'
  | 'counter-sample'
  | 'diagnosis';

export type Dataset = 'droptrace.drops' | 'droptrace.retransmits' | 'droptrace.flows' | 'droptrace.stats' | 'droptrace.counters' | 'droptrace.findings';
export type Direction = 'ingress' | 'egress' | 'unknown';
export type PathKind = 'local-in' | 'forward' | 'local-out' | 'unknown';
export type RetransmitType = 'rto' | 'fast' | 'tlp' | 'syn' | 'synack' | 'unknown';

export interface Endpoint {
  ip?: string;
  port?: number;
}

export interface EcsRecord {
  '@timestamp': string;
  event: {
    kind: 'event' | 'metric' | 'alert';
    category: string[];
    type?: string[];
    action: Action;
    dataset: Dataset;
    reason?: string;
    outcome?: 'success' | 'failure';
    start?: string;
    end?: string;
  };
  network?: {
    type?: 'ipv4' | 'ipv6';
    transport?: string;
    iana_number?: string;
    direction?: Direction;
  };
  source?: Endpoint;
  destination?: Endpoint;
  host?: { name: string };
  observer?: {
    /** "pcap" for records from capture analysis. */
    type?: string;
    ingress?: { interface?: { id?: string; name?: string } };
    egress?: { interface?: { id?: string; name?: string } };
  };
  /** The capture file a pcap record was read from. */
  file?: { path: string };
  droptrace: Record<string, unknown> & {
    /** Stable id of this record (used as the Elasticsearch `_id`). */
    id?: string;
  };
}

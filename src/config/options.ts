// The options several commands share, one row each (one name per concept
// across commands: the window is --interval for run and top, the per-event
// budget --rate-limit for tail and run). A command's own list is composed in
// src/cli/options.ts; each sink declares its own (src/sinks/<sink>/options.ts).
import type { OptionGroup, OptionSpec } from './schema.js';

const DAY = 86_400;

export const TRACING: OptionGroup = { title: 'Tracing' };
export const WINDOWS: OptionGroup = { title: 'Windows' };
export const OUTPUT: OptionGroup = { title: 'Output' };
export const FILTERS: OptionGroup = { title: 'Filters', nest: { keys: ['filters', 'filter'], prefix: 'filter-' } };
export const PCAP: OptionGroup = { title: 'Pcap', nest: { keys: ['pcap'], prefix: 'pcap-' } };
export const DIAGNOSIS: OptionGroup = { title: 'Diagnosis' };

function hostName(v: string): string {
  if (v.length === 0 || v.length > 255 || /[\s\p{Cc}\p{Cf}]/u.test(v)) throw new Error('must be 1-255 characters without spaces or control characters');
  return v;
}

// Tracing
export const BPFTRACE = { name: 'bpftrace', type: 'string', path: true, group: TRACING, describe: 'bpftrace binary, or a private install dir (scripts/install-bpftrace-current)' } as const satisfies OptionSpec;
export const DURATION = { name: 'duration', type: 'duration', min: 0.001, max: 365 * DAY, group: TRACING, describe: 'Stop cleanly after this long, flushing everything' } as const satisfies OptionSpec;
export const READY_FILE = { name: 'ready-file', type: 'string', path: true, group: TRACING, describe: 'Write this file once all probes are attached' } as const satisfies OptionSpec;
export const INCOMING_LOSS = { name: 'incoming-loss', type: 'boolean', default: true, group: TRACING, describe: 'Trace incoming loss on this host (tcp:tcp_probe); --no-incoming-loss saves its cost on busy receivers' } as const satisfies OptionSpec;
export const KERNEL_STACK = { name: 'kernel-stack', type: 'boolean', default: false, group: TRACING, describe: 'Capture the kernel stack of streamed drop events (costlier: one stack walk per event)' } as const satisfies OptionSpec;
export const EVENTS = { name: 'events', type: 'boolean', default: false, group: TRACING, describe: 'Also emit per-event records (at most --rate-limit per second)' } as const satisfies OptionSpec;
export const RATE_LIMIT = { name: 'rate-limit', type: 'int', default: 10_000, min: 0, max: 10_000_000, group: TRACING, describe: 'At most N events/s leave the kernel (0 = unlimited); the rest are counted as suppressed' } as const satisfies OptionSpec;
/** run's old name for --events with --rate-limit N (0: no events). */
export const STREAM_RATE = {
  name: 'stream-rate', type: 'int', default: 0, min: 0, max: 10_000_000, group: TRACING,
  describe: 'Also emit per-event records, at most N/s (in-kernel limit; 0 = none)', deprecated: 'use --events (with --rate-limit N)',
} as const satisfies OptionSpec;
export const HOST_NAME = { name: 'host-name', type: 'string', check: hostName, group: TRACING, describe: 'host.name in records (default: this host name)' } as const satisfies OptionSpec;
export const COLOR = { name: 'color', type: 'boolean', group: OUTPUT, describe: 'Force colours on/off (default: on for a TTY unless NO_COLOR is set)' } as const satisfies OptionSpec;
export const JSON_OUTPUT = { name: 'json', type: 'boolean', default: false, group: OUTPUT, describe: 'Write records as NDJSON to stdout (the default when no other sink is set)' } as const satisfies OptionSpec;

// Windows
export const INTERVAL = { name: 'interval', type: 'duration', integer: true, default: 10, min: 1, max: 3600, group: WINDOWS, describe: 'Seconds per flow window (aligned to wall-clock multiples)' } as const satisfies OptionSpec;
export const MAX_FLOWS = { name: 'max-flows', type: 'int', default: 16384, min: 1, max: 1_000_000, group: WINDOWS, describe: 'Distinct flows counted per window and signal in the kernel; the rest go to exact overflow records' } as const satisfies OptionSpec;
export const KERNEL_MAP_KEYS = { name: 'kernel-map-keys', type: 'int', default: 0, min: 0, max: 100_000_000, group: WINDOWS, describe: 'Size of the kernel maps in keys (0: computed from --max-flows). Smaller values lose keyed flows, counted as unattributed' } as const satisfies OptionSpec;
export const COLLECTOR_MAX_FLOWS = { name: 'collector-max-flows', type: 'int', default: 10000, min: 1, max: 10_000_000, group: WINDOWS, describe: 'Flow records kept per window (top by count); the rest are summed into overflow records' } as const satisfies OptionSpec;
export const IDLE_TIMEOUT = { name: 'idle-timeout', type: 'duration', integer: true, default: 60, min: 1, max: DAY, group: WINDOWS, describe: 'Seconds without loss after which a flow gets its final record' } as const satisfies OptionSpec;
export const STATS_INTERVAL = { name: 'stats-interval', type: 'duration', integer: true, default: 60, min: 1, max: DAY, group: WINDOWS, describe: 'Seconds between self-stats records and log lines' } as const satisfies OptionSpec;

// Filters: raw strings here; src/filters/filters.ts validates them (and splits commas).
export const FILTER_OPTIONS = [
  { name: 'filter-host', type: 'string[]', group: FILTERS, describe: 'Only packets to/from this IP or CIDR' },
  { name: 'filter-port', type: 'string[]', group: FILTERS, describe: 'Only this source or destination port, or range 8000-8080' },
  { name: 'filter-proto', type: 'string[]', group: FILTERS, describe: 'Only this L4 protocol: tcp, udp, icmp, icmpv6, sctp or a number' },
  { name: 'filter-iface', type: 'string[]', group: FILTERS, describe: 'Only drops on this interface name (this netns) or ifindex' },
  { name: 'filter-netns', type: 'string[]', group: FILTERS, describe: 'Only this network namespace inode' },
  { name: 'filter-reason', type: 'string[]', group: FILTERS, describe: 'Only drops with this reason, e.g. NETFILTER_DROP' },
  { name: 'exclude-reason', type: 'string[]', group: FILTERS, describe: 'Hide drops with this reason' },
] as const satisfies readonly OptionSpec[];

// Diagnosis (run, counters, doctor)
export const DIAGNOSE = { name: 'diagnose', type: 'boolean', default: true, group: DIAGNOSIS, describe: 'Each window, also emit kernel counter records (droptrace.counters) and findings (droptrace.findings); --no-diagnose to skip' } as const satisfies OptionSpec;
export const STATE_DIR = { name: 'state-dir', type: 'string', path: true, default: '/var/lib/droptrace/state', group: DIAGNOSIS, describe: 'Keep counter baselines here for `droptrace doctor` (0700)' } as const satisfies OptionSpec;

// Capture analysis (droptrace pcap; src/pcap)
export const PCAP_OPTIONS = [
  { name: 'pcap-state-dir', type: 'string', path: true, group: PCAP, describe: 'Carry per-connection state from one file of a tcpdump rotation to the next (tcpdump -z), and serialize overlapping runs on a lock, in this directory (0700)' },
  { name: 'pcap-state-max-connections', type: 'int', default: 20_000, min: 0, max: 10_000_000, group: PCAP, describe: 'Connections carried in the state file (most recently active first)' },
  { name: 'pcap-max-connections', type: 'int', default: 1_000_000, min: 1, max: 50_000_000, group: PCAP, describe: 'Connections analysed at once; beyond it the least recently active is evicted (counted)' },
  { name: 'pcap-after', type: 'string', default: 'keep', choices: ['keep', 'delete', 'gzip'], group: PCAP, describe: 'What to do with a capture file once analysed and shipped: keep, delete, or gzip it' },
  { name: 'pcap-lock-wait', type: 'duration', default: 300, min: 0, max: DAY, group: PCAP, describe: 'How long to wait for an overlapping run to release the state/output lock' },
] as const satisfies readonly OptionSpec[];

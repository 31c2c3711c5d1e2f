// Every option of `droptrace run`, in one table: the CLI flags, the
// DROPTRACE_* environment variables and the config file keys are all derived
// from it, so the three can never disagree. Names are kebab-case as on the CLI.
//
// Types and what each accepts (flags, env and file alike):
//   number / int  a number, or a numeric string
//   boolean       true/false (env and strings also: 1/0, yes/no, on/off)
//   string        a string (a number in a config file is taken as its text)
//   string[]      repeat the flag; env: comma-separated; file: a list or one string
//   duration      seconds: 10, 1.5, or with a unit "500ms", "30s", "5m", "1h", "1d"
//   bytes         bytes: 67108864, or "64MiB", "100MB", "1.5GiB" (KiB=1024, kB=1000)
// The parsed value of a duration is in seconds, of bytes in bytes.

export type OptionType = 'number' | 'int' | 'boolean' | 'string' | 'string[]' | 'duration' | 'bytes';

export type OptionGroup = 'Tracing' | 'Windows' | 'Output' | 'Files' | 'Elasticsearch' | 'Filters' | 'Pcap';

export interface OptionSpec {
  readonly name: string;
  readonly type: OptionType;
  readonly default?: number | boolean | string;
  /** Inclusive bounds for numeric types (duration in seconds, bytes in bytes). */
  readonly min?: number;
  readonly max?: number;
  /** Durations only: whole seconds. */
  readonly integer?: boolean;
  /** Strings only: one of these. */
  readonly choices?: readonly string[];
  /** Extra validation of a parsed string: returns the normalized value or throws Error(reason). */
  readonly check?: (v: string) => string;
  readonly describe: string;
  readonly group: OptionGroup;
  /** The value names a file (checked for sanity only; opened by whoever uses it). */
  readonly path?: boolean;
  /** The value names a file holding a secret. Secrets themselves are never accepted as values. */
  readonly secretFile?: boolean;
}

export const ENV_PREFIX = 'DROPTRACE_';
export const CONFIG_ENV = 'DROPTRACE_CONFIG';

export function envName(option: string): string {
  return ENV_PREFIX + option.toUpperCase().replace(/-/g, '_');
}

const KiB = 1024;
const MiB = 1024 * KiB;
const DAY = 86_400;

// Value checks shared with the Elasticsearch sink's own rules.
function esUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new Error('must be a URL such as https://es.example:9200');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`must be http:// or https://, not ${u.protocol}//`);
  if (u.username || u.password) throw new Error('must not carry credentials (use es-username with es-password-file, or es-api-key-file)');
  return v;
}

function esNamespace(v: string): string {
  // Elastic data stream naming: lowercase, no '-' (it separates type-dataset-namespace), ≤ 100 bytes.
  if (!/^[a-z0-9][a-z0-9_]{0,99}$/.test(v)) throw new Error("must be 1-100 lowercase letters, digits and _ (no '-'), starting with a letter or digit");
  return v;
}

function sha256Fingerprint(v: string): string {
  const hex = v.replace(/:/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('must be a SHA-256 fingerprint: 64 hex digits, colons allowed');
  return hex;
}

function hostName(v: string): string {
  if (v.length === 0 || v.length > 255 || /[\s\p{Cc}\p{Cf}]/u.test(v)) throw new Error('must be 1-255 characters without spaces or control characters');
  return v;
}

export const RUN_OPTIONS = [
  // Tracing
  { name: 'bpftrace', type: 'string', path: true, group: 'Tracing', describe: 'bpftrace binary, or a private install dir (scripts/install-bpftrace-current)' },
  { name: 'duration', type: 'duration', min: 0.001, max: 365 * DAY, group: 'Tracing', describe: 'Stop cleanly after this long, flushing everything' },
  { name: 'ready-file', type: 'string', path: true, group: 'Tracing', describe: 'Write this file once all probes are attached' },
  { name: 'incoming-loss', type: 'boolean', default: true, group: 'Tracing', describe: 'Trace incoming loss on this host (tcp:tcp_probe); --no-incoming-loss saves its cost on busy receivers' },
  { name: 'kernel-stack', type: 'boolean', default: false, group: 'Tracing', describe: 'Capture the kernel stack of streamed drop events' },
  { name: 'stream-rate', type: 'int', default: 0, min: 0, max: 10_000_000, group: 'Tracing', describe: 'Also emit per-event records, at most N/s (in-kernel limit; 0 = none)' },
  { name: 'host-name', type: 'string', check: hostName, group: 'Tracing', describe: 'host.name in records (default: this host name)' },
  { name: 'diagnose', type: 'boolean', default: true, group: 'Tracing', describe: 'Each window, also emit kernel counter records (droptrace.counters) and findings (droptrace.findings); --no-diagnose to skip' },
  { name: 'state-dir', type: 'string', path: true, default: '/var/lib/droptrace/state', group: 'Tracing', describe: 'Keep counter baselines here for `droptrace doctor` (0700)' },
  // Windows
  { name: 'interval', type: 'duration', integer: true, default: 10, min: 1, max: 3600, group: 'Windows', describe: 'Seconds per flow window (aligned to wall-clock multiples)' },
  { name: 'max-flows', type: 'int', default: 16384, min: 1, max: 1_000_000, group: 'Windows', describe: 'Distinct flows counted per window and signal in the kernel; the rest go to exact overflow records' },
  { name: 'kernel-map-keys', type: 'int', default: 0, min: 0, max: 100_000_000, group: 'Windows', describe: 'Size of the kernel maps in keys (0: computed from --max-flows). Smaller values lose keyed flows, counted as unattributed' },
  { name: 'collector-max-flows', type: 'int', default: 10000, min: 1, max: 10_000_000, group: 'Windows', describe: 'Flow records kept per window (top by count); the rest are summed into overflow records' },
  { name: 'idle-timeout', type: 'duration', integer: true, default: 60, min: 1, max: DAY, group: 'Windows', describe: 'Seconds without loss after which a flow gets its final record' },
  { name: 'stats-interval', type: 'duration', integer: true, default: 60, min: 1, max: DAY, group: 'Windows', describe: 'Seconds between self-stats records and log lines' },
  // Output
  { name: 'json', type: 'boolean', default: false, group: 'Output', describe: 'Write records as NDJSON to stdout (the default when no other sink is set)' },
  // Files
  { name: 'output-dir', type: 'string', path: true, group: 'Files', describe: 'Write rotating NDJSON files (events, flows, stats) here (created 0700)' },
  { name: 'file-max-bytes', type: 'bytes', default: 64 * MiB, min: 4 * KiB, max: 1024 ** 4, group: 'Files', describe: 'Rotate a file before it would exceed this size' },
  { name: 'file-max-age', type: 'duration', default: 3600, min: 0, max: 30 * DAY, group: 'Files', describe: 'Rotate a non-empty file this long after it was opened (0 = by size only)' },
  { name: 'file-keep', type: 'int', default: 10, min: 0, max: 100_000, group: 'Files', describe: 'Rotated files kept per stream; older ones are deleted' },
  { name: 'file-gzip', type: 'boolean', default: false, group: 'Files', describe: 'gzip rotated files in the background' },
  // Elasticsearch
  { name: 'es-url', type: 'string', check: esUrl, group: 'Elasticsearch', describe: 'Elasticsearch URL, e.g. https://es.example:9200' },
  { name: 'es-namespace', type: 'string', default: 'default', check: esNamespace, group: 'Elasticsearch', describe: 'Data stream namespace: logs-droptrace.drops-<namespace>, …' },
  { name: 'es-api-key-file', type: 'string', path: true, secretFile: true, group: 'Elasticsearch', describe: 'File holding an API key (base64 "id:key"); or env DROPTRACE_ES_API_KEY' },
  { name: 'es-username', type: 'string', group: 'Elasticsearch', describe: 'User for basic auth (password from es-password-file or env DROPTRACE_ES_PASSWORD)' },
  { name: 'es-password-file', type: 'string', path: true, secretFile: true, group: 'Elasticsearch', describe: 'File holding the basic-auth password' },
  { name: 'es-ca-file', type: 'string', path: true, group: 'Elasticsearch', describe: 'PEM CA certificate to verify the server with' },
  { name: 'es-fingerprint', type: 'string', check: sha256Fingerprint, group: 'Elasticsearch', describe: "Pin the server CA certificate's SHA-256 fingerprint (hex, colons allowed)" },
  { name: 'es-spool-dir', type: 'string', path: true, default: '/var/lib/droptrace/es-spool', group: 'Elasticsearch', describe: 'On-disk spool for records Elasticsearch could not take yet (0700)' },
  { name: 'es-spool-max-bytes', type: 'bytes', default: 512 * MiB, min: 1 * MiB, max: 1024 ** 4, group: 'Elasticsearch', describe: 'Spool size limit; when full, the oldest segment is dropped (counted)' },
  { name: 'es-batch-size', type: 'int', default: 1000, min: 1, max: 100_000, group: 'Elasticsearch', describe: 'Records per bulk request' },
  { name: 'es-flush-interval', type: 'duration', default: 1, min: 0.001, max: 3600, group: 'Elasticsearch', describe: 'Flush a partial batch after this long' },
  { name: 'es-queue-max', type: 'int', default: 20_000, min: 1, max: 10_000_000, group: 'Elasticsearch', describe: 'Records held in memory before spilling to the spool' },
  { name: 'es-dead-letter', type: 'string', path: true, group: 'Elasticsearch', describe: 'NDJSON file for records Elasticsearch rejected (default: <spool dir>/dead-letter.ndjson)' },
  // Filters: raw strings here; src/filters/filters.ts validates them (and splits commas).
  { name: 'filter-host', type: 'string[]', group: 'Filters', describe: 'Only packets to/from this IP or CIDR' },
  { name: 'filter-port', type: 'string[]', group: 'Filters', describe: 'Only this source or destination port, or range 8000-8080' },
  { name: 'filter-proto', type: 'string[]', group: 'Filters', describe: 'Only this L4 protocol: tcp, udp, icmp, icmpv6, sctp or a number' },
  { name: 'filter-iface', type: 'string[]', group: 'Filters', describe: 'Only drops on this interface name (this netns) or ifindex' },
  { name: 'filter-netns', type: 'string[]', group: 'Filters', describe: 'Only this network namespace inode' },
  { name: 'filter-reason', type: 'string[]', group: 'Filters', describe: 'Only drops with this reason, e.g. NETFILTER_DROP' },
  { name: 'exclude-reason', type: 'string[]', group: 'Filters', describe: 'Hide drops with this reason' },
  // Capture analysis (droptrace pcap; src/pcap)
  { name: 'pcap-state-dir', type: 'string', path: true, group: 'Pcap', describe: 'Carry per-connection state from one file of a tcpdump rotation to the next (tcpdump -z), and serialize overlapping runs on a lock, in this directory (0700)' },
  { name: 'pcap-state-max-connections', type: 'int', default: 20_000, min: 0, max: 10_000_000, group: 'Pcap', describe: 'Connections carried in the state file (most recently active first)' },
  { name: 'pcap-max-connections', type: 'int', default: 1_000_000, min: 1, max: 50_000_000, group: 'Pcap', describe: 'Connections analysed at once; beyond it the least recently active is evicted (counted)' },
  { name: 'pcap-after', type: 'string', default: 'keep', choices: ['keep', 'delete', 'gzip'], group: 'Pcap', describe: 'What to do with a capture file once analysed and shipped: keep, delete, or gzip it' },
  { name: 'pcap-lock-wait', type: 'duration', default: 300, min: 0, max: DAY, group: 'Pcap', describe: 'How long to wait for an overlapping run to release the state/output lock' },
] as const satisfies readonly OptionSpec[];

export type OptionName = (typeof RUN_OPTIONS)[number]['name'];

type ValueOf<T extends OptionType> = T extends 'boolean' ? boolean : T extends 'string' ? string : T extends 'string[]' ? string[] : number;
type Row = (typeof RUN_OPTIONS)[number];

/** The validated options of `run`, keyed like argv (so rawFiltersFrom/durationMs/… accept it). */
export type RunConfig = {
  readonly [R in Row as R['name']]: R extends { default: unknown } ? ValueOf<R['type']> : ValueOf<R['type']> | undefined;
};

export const SPEC_BY_NAME: ReadonlyMap<string, OptionSpec> = new Map(RUN_OPTIONS.map((o) => [o.name, o as OptionSpec]));

/**
 * Secrets never go in argv (world-readable), env-named options or the config
 * file as values: these keys are refused with a pointer to the -file option.
 */
export const REFUSED_SECRET_KEYS: Readonly<Record<string, string>> = {
  'es-password': 'put the password in a file named by es-password-file, or in env DROPTRACE_ES_PASSWORD',
  'es-api-key': 'put the API key in a file named by es-api-key-file, or in env DROPTRACE_ES_API_KEY',
};

// Every command's options, composed from the shared rows (src/config/options.ts)
// and each sink's (src/sinks/registry.ts). One name per concept across
// commands: the window or sampling period is --interval (top's --refresh and
// counters' --netns remain as older names, with a warning), the per-event
// budget is --rate-limit (run's --stream-rate is deprecated for --events).
// Every command reads flags > env > config file > defaults the same way.
import type { Argv } from 'yargs';
import { addOptions, loadOptions, type ConfigOf, type LoadConfigInput, type LoadedConfig, type OptionSpec } from '../config/index.js';
import {
  BPFTRACE, COLLECTOR_MAX_FLOWS, COLOR, DIAGNOSE, DIAGNOSIS, DURATION, EVENTS, FILTER_OPTIONS, HOST_NAME, IDLE_TIMEOUT, INCOMING_LOSS, INTERVAL,
  JSON_OUTPUT, KERNEL_MAP_KEYS, KERNEL_STACK, MAX_FLOWS, OUTPUT, PCAP_OPTIONS, RATE_LIMIT, READY_FILE, STATE_DIR, STATS_INTERVAL, STREAM_RATE, TRACING, WINDOWS,
} from '../config/options.js';
import { sinkOptions } from '../sinks/registry.js';
import { ES_CONNECTION_OPTIONS } from '../sinks/elasticsearch/options.js';
import { SEVERITIES } from '../diagnose/doctor/finding.js';

const TRACER = [BPFTRACE, DURATION, READY_FILE] as const;

export const TAIL_OPTIONS = [...TRACER, ...FILTER_OPTIONS, { ...JSON_OUTPUT, describe: 'Print one ECS JSON record per line' }, RATE_LIMIT, KERNEL_STACK, COLOR] as const satisfies readonly OptionSpec[];

export const TOP_VIEWS = ['flows', 'reasons', 'locations', 'services', 'sources', 'prefixes'] as const;
export const TOP_OPTIONS = [
  ...TRACER, ...FILTER_OPTIONS,
  { ...MAX_FLOWS, describe: 'Distinct flows counted per window in the kernel; the rest are summed as overflow' },
  { ...INTERVAL, default: 1, max: 60, aliases: ['refresh'], describe: 'Seconds per refresh (and per in-kernel window)' },
  COLOR,
  { name: 'view', type: 'string', default: 'flows', choices: TOP_VIEWS, group: OUTPUT, describe: 'View to start in' },
] as const satisfies readonly OptionSpec[];

/** `run`: every option but the capture analysis ones, and every sink's. */
export const RUN_OPTIONS = [
  ...TRACER, INCOMING_LOSS, KERNEL_STACK, EVENTS, RATE_LIMIT, STREAM_RATE, HOST_NAME, DIAGNOSE, STATE_DIR,
  INTERVAL, MAX_FLOWS, KERNEL_MAP_KEYS, COLLECTOR_MAX_FLOWS, IDLE_TIMEOUT, STATS_INTERVAL,
  ...FILTER_OPTIONS,
] as const satisfies readonly OptionSpec[];
/** The options of `run` with the sinks' (typed loosely: each sink reads its own). */
export const RUN_ALL_OPTIONS: readonly OptionSpec[] = [...RUN_OPTIONS, ...sinkOptions()];

export const PCAP_OPTIONS_ALL: readonly OptionSpec[] = [HOST_NAME, INTERVAL, COLLECTOR_MAX_FLOWS, ...PCAP_OPTIONS, ...sinkOptions()];
export const PCAP_COMMAND_OPTIONS = [HOST_NAME, INTERVAL, COLLECTOR_MAX_FLOWS, JSON_OUTPUT, ...PCAP_OPTIONS] as const satisfies readonly OptionSpec[];

export const COUNTERS_OPTIONS = [
  { ...INTERVAL, default: 1, min: 0.2, integer: false, group: WINDOWS, describe: 'Seconds between samples' },
  DURATION,
  { ...FILTER_OPTIONS[4], aliases: ['netns'], describe: 'Only this namespace: inode or /run/netns name' },
  { name: 'counter', type: 'string[]', group: OUTPUT, describe: 'Only counters whose name contains this text, or matches a glob like TcpExt.Listen*' },
  { ...JSON_OUTPUT, describe: 'One droptrace.counters record per moved counter per sample on stdout' },
  { name: 'all', type: 'boolean', default: false, group: OUTPUT, describe: 'Also counters that did not move' },
  { name: 'storms', type: 'boolean', default: false, group: OUTPUT, describe: 'Only counters in a storm' },
  { name: 'ethtool', type: 'boolean', default: true, group: DIAGNOSIS, describe: 'Read NIC driver counters (ethtool -S) of physical interfaces' },
  { name: 'state-dir', type: 'string', path: true, group: DIAGNOSIS, describe: 'Use the counter baselines `droptrace run` keeps here' },
  { ...READY_FILE, describe: 'Write this file once the first sample is taken' },
  { name: 'list', type: 'boolean', default: false, group: OUTPUT, describe: 'Print the watched counters, their storm floors and meanings, and exit' },
  HOST_NAME,
] as const satisfies readonly OptionSpec[];

export const DOCTOR_OPTIONS = [
  BPFTRACE, { ...DURATION, default: 10, min: 1, max: 3600, describe: 'Seconds to observe before reporting' }, READY_FILE,
  ...FILTER_OPTIONS.slice(0, 4),
  { ...FILTER_OPTIONS[4], describe: 'Only this network namespace: inode or /run/netns name; also limits the counters and configuration read' },
  ...FILTER_OPTIONS.slice(5),
  { ...JSON_OUTPUT, describe: 'One droptrace.findings record per finding on stdout' },
  { name: 'fail-on', type: 'string', choices: SEVERITIES, group: OUTPUT, describe: 'Exit 6 when a finding at or above this severity exists (scripts, CI)' },
  { ...STATE_DIR, describe: 'Counter baselines kept by `droptrace run` (used when fresh)' },
  { name: 'max-namespaces', type: 'int', default: 1000, min: 1, max: 1_000_000, group: DIAGNOSIS, describe: 'Read counters/config of at most this many namespaces' },
  HOST_NAME,
  COLOR,
] as const satisfies readonly OptionSpec[];

export const PROBES_OPTIONS = [
  BPFTRACE,
  { ...JSON_OUTPUT, describe: 'Machine-readable output' },
  { name: 'reasons', type: 'boolean', default: false, group: OUTPUT, describe: "Also list this kernel's drop reasons" },
  { name: 'compile-check', type: 'boolean', default: false, group: TRACING, describe: 'Compile every probe variant without attaching (bpftrace --emit-elf), also those this kernel cannot attach; exit 4 if one fails' },
] as const satisfies readonly OptionSpec[];

const [ES_URL, ES_NAMESPACE, ...ES_REST] = ES_CONNECTION_OPTIONS;
export const SETUP_ES_OPTIONS = [
  ES_URL, { ...ES_NAMESPACE, aliases: ['namespace'] }, ...ES_REST,
  { name: 'retention', type: 'string', default: '30d', group: OUTPUT, describe: 'Data stream lifecycle retention' },
  { ...JSON_OUTPUT, describe: 'Print the result as JSON' },
] as const satisfies readonly OptionSpec[];

const KIBANA = { title: 'Kibana', nest: { keys: ['kibana'], prefix: 'kibana-' } } as const;
export const SETUP_KIBANA_OPTIONS = [
  { name: 'kibana-url', type: 'string', group: KIBANA, describe: 'Kibana URL, e.g. https://kibana.example:5601' },
  { name: 'kibana-space', type: 'string', group: KIBANA, describe: 'Kibana space id (default space if absent)' },
  { name: 'kibana-api-key-file', type: 'string', path: true, secretFile: true, group: KIBANA, describe: 'File holding a Kibana/Elasticsearch API key. Env: DROPTRACE_KIBANA_API_KEY' },
  { name: 'kibana-username', type: 'string', group: KIBANA, describe: 'User for basic auth' },
  { name: 'kibana-password-file', type: 'string', path: true, secretFile: true, group: KIBANA, describe: 'File holding the password. Env: DROPTRACE_KIBANA_PASSWORD' },
  { name: 'kibana-ca-file', type: 'string', path: true, group: KIBANA, describe: 'PEM CA certificate to verify Kibana with' },
  { name: 'file', type: 'string', path: true, group: KIBANA, describe: 'Saved objects NDJSON to import (default: the bundled deploy/kibana/droptrace.ndjson)' },
] as const satisfies readonly OptionSpec[];

/** Every option of every command (a config file may hold any of them: each command takes its own). */
export const ALL_OPTIONS: readonly OptionSpec[] = dedupe([
  ...TAIL_OPTIONS, ...TOP_OPTIONS, ...RUN_ALL_OPTIONS, ...PCAP_OPTIONS_ALL, ...COUNTERS_OPTIONS, ...DOCTOR_OPTIONS, ...PROBES_OPTIONS, ...SETUP_ES_OPTIONS, ...SETUP_KIBANA_OPTIONS,
]);

function dedupe(specs: readonly OptionSpec[]): OptionSpec[] {
  const by = new Map<string, OptionSpec>();
  for (const s of specs) {
    const had = by.get(s.name);
    // Keep every older name any command knows.
    by.set(s.name, had ? { ...had, aliases: [...new Set([...(had.aliases ?? []), ...(s.aliases ?? [])])] } : s);
  }
  return [...by.values()];
}

/** A command's options, loaded: flags > env > the config file (any command's keys) > defaults. Older names warn through `warn`. */
export function loadCommandOptions<S extends readonly OptionSpec[]>(command: string, specs: S, argv: Record<string, unknown>, warn: (m: string) => void, o: Partial<LoadConfigInput> = {}): ConfigOf<S> {
  const loaded = loadOptions(specs, { argv, fileOptions: ALL_OPTIONS, command, ...o });
  for (const w of loaded.warnings) warn(w);
  return loaded.config;
}

/** `run`'s options (with every sink's), declared on yargs. */
export function addRunOptions<T>(y: Argv<T>): Argv<T> {
  return addOptions(y, RUN_ALL_OPTIONS);
}

export type RunConfig = ConfigOf<typeof RUN_OPTIONS> & Readonly<Record<string, unknown>>;

/** `run`'s options (with every sink's), loaded. */
export function loadConfigWithSources(input: LoadConfigInput = {}): LoadedConfig<RunConfig> {
  return loadOptions(RUN_ALL_OPTIONS, { fileOptions: ALL_OPTIONS, command: 'run', ...input }) as LoadedConfig<RunConfig>;
}

export function loadConfig(input: LoadConfigInput = {}): RunConfig {
  return loadConfigWithSources(input).config;
}

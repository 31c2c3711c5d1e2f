// Options shared by every long-running command (design: command-line contract).
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';

export function withTracerOptions<T>(y: Argv<T>) {
  return y
    .option('bpftrace', { type: 'string', describe: 'bpftrace binary, or a private install dir (scripts/install-bpftrace-current). Env: DROPTRACE_BPFTRACE' })
    .option('duration', { type: 'number', describe: 'Stop cleanly after SECONDS, flushing everything' })
    .option('ready-file', { type: 'string', describe: 'Write this file once all probes are attached' })
    .option('filter-host', { type: 'string', array: true, requiresArg: true, describe: 'Only packets to/from this IP or CIDR (repeatable)' })
    .option('filter-port', { type: 'string', array: true, requiresArg: true, describe: 'Only this source or destination port, or range 8000-8080 (repeatable)' })
    .option('filter-proto', { type: 'string', array: true, requiresArg: true, describe: 'Only this L4 protocol: tcp, udp, icmp, icmpv6, sctp or a number (repeatable)' })
    .option('filter-iface', { type: 'string', array: true, requiresArg: true, describe: 'Only drops on this interface name (this netns) or ifindex (repeatable)' })
    .option('filter-netns', { type: 'string', array: true, requiresArg: true, describe: 'Only this network namespace inode (repeatable)' })
    .option('filter-reason', { type: 'string', array: true, requiresArg: true, describe: 'Only drops with this reason, e.g. NETFILTER_DROP (repeatable)' })
    .option('exclude-reason', { type: 'string', array: true, requiresArg: true, describe: 'Hide drops with this reason (repeatable)' });
}

export interface TracerArgs {
  bpftrace?: string;
  duration?: number;
  'ready-file'?: string;
  'filter-host'?: string[];
  'filter-port'?: string[];
  'filter-proto'?: string[];
  'filter-iface'?: string[];
  'filter-netns'?: string[];
  'filter-reason'?: string[];
  'exclude-reason'?: string[];
}

export function rawFiltersFrom(a: TracerArgs) {
  return {
    host: a['filter-host'], port: a['filter-port'], proto: a['filter-proto'], iface: a['filter-iface'],
    netns: a['filter-netns'], reason: a['filter-reason'], excludeReason: a['exclude-reason'],
  };
}

export function durationMs(a: TracerArgs): number | undefined {
  if (a.duration === undefined) return undefined;
  if (!Number.isFinite(a.duration) || a.duration <= 0 || a.duration > 31_536_000) throw new UsageError(`--duration must be a number of seconds > 0, got ${a.duration}`);
  return a.duration * 1000;
}

export function bpftraceFrom(a: TracerArgs, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return a.bpftrace ?? (env.DROPTRACE_BPFTRACE || undefined);
}

/** Resolves on SIGINT/SIGTERM or after the duration, whichever comes first. */
export function untilStopped(ms: number | undefined, also?: Promise<unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = ms !== undefined ? setTimeout(() => done('duration'), ms) : null;
    const onSig = (s: string) => done(s);
    const sigint = () => onSig('SIGINT');
    const sigterm = () => onSig('SIGTERM');
    process.once('SIGINT', sigint);
    process.once('SIGTERM', sigterm);
    function done(why: string) {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', sigint);
      process.off('SIGTERM', sigterm);
      resolve(why);
    }
    also?.then(() => done('tracer-exit'), (e) => {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', sigint);
      process.off('SIGTERM', sigterm);
      reject(e);
    });
  });
}

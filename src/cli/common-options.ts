// Options shared by every long-running command (design: command-line contract).
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { watchParent } from '../platform/parent-watch.js';

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

export interface StopOptions {
  /** Told why we stop when it is not a signal or the duration (e.g. the npx launcher went away). */
  onReason?: (why: string) => void;
  /** Injected for tests: watches the launcher (default platform/parent-watch). */
  watch?: (onGone: (why: string) => void) => () => void;
}

/**
 * Resolves on SIGINT, SIGTERM or SIGHUP (the terminal or the shell that
 * started us went away; Node would otherwise die without flushing), when
 * the npm/npx launcher that started us is gone, or after the duration.
 */
export function untilStopped(ms: number | undefined, also?: Promise<unknown>, o: StopOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = ms !== undefined ? setTimeout(() => done('duration'), ms) : null;
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, () => done(s)] as const);
    for (const [s, h] of handlers) process.once(s, h);
    const unwatch = (o.watch ?? ((onGone) => watchParent({ onGone })))((why) => {
      o.onReason?.(`stopping: ${why}`);
      done('launcher-gone');
    });
    function cleanup() {
      if (timer) clearTimeout(timer);
      for (const [s, h] of handlers) process.off(s, h);
      unwatch();
    }
    function done(why: string) {
      cleanup();
      resolve(why);
    }
    also?.then(() => done('tracer-exit'), (e) => {
      cleanup();
      reject(e);
    });
  });
}

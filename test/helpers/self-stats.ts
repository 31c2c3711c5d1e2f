// Every live and e2e test ends by checking droptrace's own loss counters:
// lost events, undecodable lines, stray map entries, postponed window flips,
// unattributed (refused map inserts), restarts and gaps must be 0 unless the
// test provoked them. Kernel-skipped firings are returned per signal, for the
// exactness bound of the signal a test counts.
import { expect } from 'vitest';

export interface SelfStats {
  lost: number;
  undecodable: number;
  stray_entries: number;
  window_stalls: number;
  unattributed: number;
  restarts: number;
  gaps: number;
  kernel_missed: number;
  kernel_missed_by_signal: Record<string, number>;
  kernel_maps: { maps: number; max_entries: number; memlock_bytes: number };
  [k: string]: unknown;
}

/** The final self-stats record `run` writes when it stops. */
export function finalStats(records: Array<Record<string, any>>): SelfStats {
  const s = records.filter((r) => r.event?.action === 'self-stats' && r.droptrace?.stats?.final).at(-1);
  expect(s, 'a final self-stats record').toBeDefined();
  return s!.droptrace.stats as SelfStats;
}

/** No loss droptrace could have avoided; `provoked` names counters the test caused on purpose. */
export function expectNoSelfLoss(s: SelfStats, provoked: Partial<Record<'lost' | 'unattributed' | 'undecodable' | 'restarts' | 'gaps', number>> = {}): void {
  for (const k of ['lost', 'undecodable', 'stray_entries', 'window_stalls', 'unattributed', 'restarts', 'gaps'] as const) {
    expect(s[k], `self-stats ${k}`).toBe((provoked as Record<string, number>)[k] ?? 0);
  }
}

/** Probe firings the kernel skipped for one signal (0 when none were attributed to it). */
export function missedBy(s: SelfStats, signal: string): number {
  return (s.kernel_missed_by_signal?.[signal] ?? 0) + (s.kernel_missed_by_signal?.unattributed ?? 0);
}

// Start bpftrace with the chosen signals; one optional signal that fails to
// compile or attach must not stop the others: drop the least essential one
// (the lowest "keep" in its probe.json) and try again.
import { TracerError } from '../errors.js';
import type { SignalChoice } from '../source/capabilities.js';
import type { Program } from '../source/program.js';

export interface LaunchSteps {
  /** The program for these signals (throws UsageError when the filters exclude them all). */
  build(signals: SignalChoice[]): Program;
  /** Start it; resolves once attached, rejects (TracerError) if it failed before. */
  launch(program: Program): Promise<void>;
  /** How essential a signal is: the lowest goes first. */
  keep(signal: string): number;
  warn(message: string): void;
}

/** Resolves with the program that attached; rejects with the last failure when no signal is left to drop. */
export async function launchWithRetries(signals: SignalChoice[], steps: LaunchSteps): Promise<Program> {
  let left = signals;
  for (;;) {
    const program = steps.build(left);
    try {
      await steps.launch(program);
      return program;
    } catch (e) {
      if (!(e instanceof TracerError) || left.length <= 1) throw e;
      const victim = [...left].sort((a, b) => steps.keep(a.signal) - steps.keep(b.signal))[0];
      steps.warn(`signal ${victim.signal} (${victim.variant}) failed to start and is disabled: ${e.message.split('\n').slice(0, 3).join(' ')}`);
      left = left.filter((s) => s !== victim);
    }
  }
}

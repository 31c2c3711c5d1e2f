// Each probe folder's probe.json must describe exactly the fields its
// programs print, and name files that exist.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROBES_DIR, buildProgram } from '../../src/source/program.js';
import { ALL_VARIANTS } from '../../src/source/compile-check.js';

const meta = (dir: string) => JSON.parse(readFileSync(join(PROBES_DIR, dir, 'probe.json'), 'utf8'));
const V = { major: 0, minor: 23, patch: 2, text: '0.23.2' };

/** JSON keys printed by the program's printf format strings. */
function printedFields(text: string): Set<string> {
  const keys = new Set<string>();
  for (const m of text.matchAll(/printf\("(\{.*?\})\\n"/g)) {
    for (const k of m[1].matchAll(/\\"(\w+)\\":/g)) keys.add(k[1]);
  }
  return keys;
}

describe('probes/*/probe.json', () => {
  for (const [dir, variant] of [['drops', 'drops/tracepoint'], ['drops', 'drops/rawtracepoint'], ['retransmits', 'retransmits/tracepoint'], ['retransmits', 'retransmits/rawtracepoint'], ['incoming-loss', 'incoming-loss/tracepoint'], ['incoming-loss', 'incoming-loss/rawtracepoint'], ['flow-ends', 'flow-ends/tracepoint'], ['flow-ends', 'flow-ends/rawtracepoint']] as const) {
    it(`${variant}: metadata lists exactly the printed fields`, () => {
      const m = meta(dir);
      const v = ALL_VARIANTS.find((x) => x.name === variant)!;
      const text = buildProgram({ signals: [v.signal], version: V, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, stream: { ratePerSec: 0 } }).text;
      expect([...printedFields(text)].sort()).toEqual(Object.keys(m.eventFields).sort());
    });
  }

  it('every variant file named in metadata exists', () => {
    for (const dir of ['drops', 'retransmits', 'loss-probe', 'incoming-loss', 'flow-ends']) {
      const m = meta(dir);
      expect(m.variants.length).toBeGreaterThan(0);
      for (const v of m.variants) if (v.file) expect(existsSync(join(PROBES_DIR, dir, v.file))).toBe(true);
    }
  });
});

// The probe catalog (probes/*/probe.json) is what everything else reads: each
// variant's programs must exist and build with no placeholder left, its wire
// format must describe exactly the fields its programs print, every event type
// must have an enrich function, and a broken probe.json must be refused with
// the file and the reason.
import { describe, expect, it, afterAll } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/source/program.js';
import { allVariants } from '../../src/source/compile-check.js';
import { loadCatalog, PROBES_DIR } from '../../src/source/catalog.js';
import { ENRICH_BY_TYPE } from '../../src/enrich/signals.js';
import { CATALOG } from '../helpers/catalog.js';

const V = { major: 0, minor: 23, patch: 2, text: '0.23.2' };
const V017 = { major: 0, minor: 17, patch: 0, text: '0.17.0' };

/** JSON keys printed by the program's printf format strings. */
function printedFields(text: string): Set<string> {
  const keys = new Set<string>();
  for (const m of text.matchAll(/printf\("(\{.*?\})\\n"/g)) {
    for (const k of m[1].matchAll(/\\"(\w+)\\":/g)) keys.add(k[1]);
  }
  return keys;
}

describe('probes/*/probe.json', () => {
  it('declares the signals droptrace traces, in display order', () => {
    expect(CATALOG.signals.map((s) => s.name)).toEqual(['drops', 'retransmits', 'synack-retransmits', 'loss-probes', 'incoming-loss', 'flow-ends', 'resets']);
  });

  for (const { name, signal } of allVariants()) {
    it(`${name}: its wire format lists exactly the printed fields, and every placeholder is filled`, () => {
      const s = CATALOG.signal(signal.signal)!;
      for (const version of [V, V017]) {
        for (const mode of ['stream', 'aggregate'] as const) {
          // buildProgram throws on any placeholder left unreplaced.
          const text = buildProgram({
            signals: [signal], version, dropPredicate: '1', tcpSockPredicate: '1', minReason: 2, features: Object.fromEntries([...CATALOG.features.keys()].map((f) => [f, true])),
            stream: mode === 'stream' ? { ratePerSec: 0 } : null, aggregate: mode === 'aggregate' ? { intervalNs: 10n ** 10n, phaseNs: 0n, maxFlows: 16 } : null,
          }).text;
          if (mode === 'stream') expect([...printedFields(text)].sort()).toEqual(Object.keys(s.wire.fields).sort());
        }
      }
    });
  }

  it('every program file exists and is in a variant; every shared include exists', () => {
    for (const s of CATALOG.signals) {
      expect(s.variants.length).toBeGreaterThan(0);
      for (const p of s.programs.keys()) expect(existsSync(join(PROBES_DIR, p)), p).toBe(true);
    }
    for (const f of readdirSync(join(PROBES_DIR, 'shared'))) expect(f).toMatch(/\.(bt\.inc|wire\.json)$/);
  });

  it('every event type the probes print has an enrich function (src/enrich/signals.ts), and no enrich function is orphaned', () => {
    const types = CATALOG.wire.formats.filter((f) => f.role === 'event').flatMap((f) => f.types);
    for (const t of types) expect(ENRICH_BY_TYPE[t], t).toBeTypeOf('function');
    expect(Object.keys(ENRICH_BY_TYPE).sort()).toEqual([...types].sort());
  });

  it('a map kind per aggregated wire format, its totals named t<kind>', () => {
    expect(CATALOG.wire.mapSpecs.map((m) => m.kind)).toEqual(['d', 'r', 'i', 'e']);
    for (const s of CATALOG.signals) if (s.modes.includes('aggregate') && s.wire.role === 'event') expect(s.wire.map, s.name).toBeDefined();
  });

  it('each program names the kernel event its BPF program attaches to (kernel-missed counts are attributed by it)', () => {
    for (const s of CATALOG.signals) for (const p of s.programs.values()) expect(p.attach).toContain(p.event);
  });
});

describe('loadCatalog refuses a broken probe.json, naming the file', () => {
  const root = mkdtempSync(join(tmpdir(), 'droptrace-catalog-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  /** A copy of the drops probe with its probe.json changed by `edit`. */
  function broken(edit: (j: any) => void): string {
    const dir = join(root, `c${++n}`);
    mkdirSync(join(dir, 'drops'), { recursive: true });
    mkdirSync(join(dir, 'shared'), { recursive: true });
    for (const f of ['kfree_skb.bt', 'kfree_skb.raw.bt']) copyFileSync(join(PROBES_DIR, 'drops', f), join(dir, 'drops', f));
    copyFileSync(join(PROBES_DIR, 'shared/drop-fields.bt.inc'), join(dir, 'shared/drop-fields.bt.inc'));
    const j = JSON.parse(JSON.stringify(loadRaw('drops')));
    edit(j);
    writeFileSync(join(dir, 'drops/probe.json'), JSON.stringify(j));
    return dir;
  }
  const loadRaw = (folder: string) => JSON.parse(readFileSync(join(PROBES_DIR, folder, 'probe.json'), 'utf8'));

  it('the unchanged copy loads', () => {
    expect(loadCatalog(broken(() => undefined)).signals.map((s) => s.name)).toEqual(['drops']);
  });

  it.each([
    ['a variant naming an undeclared program', (j: any) => { j.variants[0].programs = ['nope.bt']; }, /not declared under "programs"/],
    ['a program file that does not exist', (j: any) => { j.programs['gone.bt'] = j.programs['kfree_skb.bt']; j.variants[1].programs.push('gone.bt'); }, /gone.bt does not exist/],
    ['an unknown filter kind', (j: any) => { j.filter = 'udp'; }, /filter must be one of/],
    ['an unknown requirement', (j: any) => { j.requires.push({ magic: true }); }, /unknown requirement/],
    ['a key field the wire does not print', (j: any) => { j.wire.map.key[0] = { field: 'nope' }; }, /unknown field nope/],
    ['overlapping bits', (j: any) => { j.wire.map.key[1].bits[1] = ['iif', 16, 32]; }, /overlaps/],
    ['an address before l3', (j: any) => { j.wire.map.key.unshift({ addr: 's' }); }, /needs l3 decoded before it/],
    ['a reserved map kind', (j: any) => { j.wire.map.kind = 'o'; }, /one lowercase letter other than/],
    ['a placeholder that is not one', (j: any) => { j.programs['kfree_skb.bt'].substitute.RX_SK = 'x'; }, /not a DROPTRACE_ placeholder/],
  ])('%s', (_what, edit, why) => {
    expect(() => loadCatalog(broken(edit))).toThrow(why);
    expect(() => loadCatalog(broken(edit))).toThrow(/probes\/drops\/probe\.json|probe catalog/);
  });
});

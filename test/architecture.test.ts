// The import graph of src/ folders (a top-level file such as errors.ts counts
// as its own node): no cycle, so imports only point down, and at most five
// layers from the bottom (errors, record, text) to the commands. Computed from
// the sources themselves, so it stays true as the code moves.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const MAX_LAYERS = 5;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** src/a/b.ts → "a"; src/errors.ts → "errors". */
const folderOf = (file: string) => {
  const parts = relative(SRC, file).split('/');
  return parts.length === 1 ? parts[0].replace(/\.ts$/, '') : parts[0];
};

/** Relative imports of a module: static (import/export … from), side-effect and dynamic import(). */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) out.push(m[1]);
  return out;
}

/** Folder → folders it imports from, each with one file that does (for the message). */
function folderGraph(): Map<string, Map<string, string>> {
  const g = new Map<string, Map<string, string>>();
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    if (!g.has(from)) g.set(from, new Map());
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      const to = folderOf(target);
      if (to !== from && !g.get(from)!.has(to)) g.get(from)!.set(to, relative(SRC, file));
    }
  }
  return g;
}

/** Longest chain of imports below each folder (1 = imports no other folder); throws on a cycle, naming it. */
function layers(g: Map<string, Map<string, string>>): Map<string, number> {
  const depth = new Map<string, number>();
  const path: string[] = [];
  const visit = (n: string): number => {
    const known = depth.get(n);
    if (known !== undefined) return known;
    if (path.includes(n)) throw new Error(`import cycle: ${[...path.slice(path.indexOf(n)), n].join(' → ')}`);
    path.push(n);
    let d = 1;
    for (const to of g.get(n)?.keys() ?? []) d = Math.max(d, 1 + visit(to));
    path.pop();
    depth.set(n, d);
    return d;
  };
  for (const n of g.keys()) visit(n);
  return depth;
}

describe('src/ layering', () => {
  const g = folderGraph();

  it('finds the folders and their imports (the graph is not empty by accident)', () => {
    expect([...g.keys()]).toEqual(expect.arrayContaining(['cli', 'session', 'source', 'decode', 'enrich', 'aggregate', 'sinks', 'platform', 'errors']));
    expect([...g.get('session')!.keys()]).toEqual(expect.arrayContaining(['source', 'decode', 'enrich', 'aggregate']));
  });

  it(`has no cycle and at most ${MAX_LAYERS} layers`, () => {
    const d = layers(g);
    const byLayer = [...d].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([n, l]) => `${l} ${n}`);
    expect(Math.max(...d.values()), byLayer.join(', ')).toBeLessThanOrEqual(MAX_LAYERS);
  });

  it('the layer check itself catches a cycle', () => {
    const cyc = new Map([['a', new Map([['b', 'a/x.ts']])], ['b', new Map([['a', 'b/y.ts']])]]);
    expect(() => layers(cyc)).toThrow(/import cycle: a → b → a|import cycle: b → a → b/);
  });
});

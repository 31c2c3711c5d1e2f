// Decode every stdout line of real bpftrace captures: test/fixtures/captured/
// (recorded by capture.sh there) and, when present, the per-version captures in
// test/fixtures/bpftrace-<version>/. Expected counts are computed independently
// from the raw text, so a decoder that drops, invents or miscounts lines fails.
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WireMessage } from '../../src/decode/wire.js';
import type { DropWire } from '../../src/enrich/drops.js';
import type { TcpSockWire } from '../../src/enrich/tcp-socket.js';
import { decodeLine } from '../helpers/catalog.js';
import { LineSplitter } from '../../src/source/line-splitter.js';
import { ipv4FromWord } from '../../src/decode/address.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

function versionDirs(): string[] {
  const dirs: string[] = [];
  for (const base of [FIXTURES, join(FIXTURES, 'captured')]) {
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) {
      const p = join(base, d);
      if (/^bpftrace-\d/.test(d) && statSync(p).isDirectory()) dirs.push(p);
    }
  }
  return dirs.sort();
}

function stdoutFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => /stdout/.test(f)).map((f) => join(dir, f)).sort();
}

interface Tally {
  lines: number;
  kinds: Record<WireMessage['kind'], number>;
  lost: number;
  events: Array<DropWire | TcpSockWire>;
  undecodable: string[];
}

/** Decode a capture the way the supervisor feeds lines: through the LineSplitter. */
function decodeFile(path: string): Tally {
  const t: Tally = { lines: 0, kinds: { event: 0, ready: 0, attaching: 0, lost: 0, ignored: 0, undecodable: 0 }, lost: 0, events: [], undecodable: [] };
  const splitter = new LineSplitter((line) => {
    t.lines++;
    const m = decodeLine(line);
    t.kinds[m.kind]++;
    if (m.kind === 'lost') t.lost += m.count;
    if (m.kind === 'event') t.events.push(m.event);
    if (m.kind === 'undecodable') t.undecodable.push(line);
  });
  const text = readFileSync(path, 'utf8');
  // Feed in odd-sized chunks to exercise line reassembly.
  for (let i = 0; i < text.length; i += 4093) splitter.push(text.slice(i, i + 4093));
  splitter.end();
  return t;
}

/** Independent count from the raw text: lost events (text and JSON shapes). */
function rawLost(text: string): number {
  let n = 0;
  for (const m of text.matchAll(/^Lost (\d+) events?$/gm)) n += Number(m[1]);
  for (const m of text.matchAll(/^\{"type": ?"lost_events", ?"data": ?\{"events": ?(\d+)\}\}$/gm)) n += Number(m[1]);
  return n;
}
/** Independent count of our event lines (plain or inside a printf envelope). */
function rawEvents(text: string): number {
  return (text.match(/^(?:\{"t":"(?:drop|retrans|synack|tlp)"|\{"type": ?"printf", ?"data": ?"\{\\"t\\":\\"(?:drop|retrans|synack|tlp)\\")/gm) ?? []).length;
}
function rawLines(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

const dirs = versionDirs();

describe('bpftrace captures', () => {
  it('the captures of this repo exist', () => {
    const captured = dirs.filter((d) => d.includes(join('fixtures', 'captured')));
    expect(captured.length).toBeGreaterThan(0);
    for (const d of captured) expect(stdoutFiles(d).length, d).toBeGreaterThanOrEqual(4);
  });

  for (const dir of dirs) {
    const files = stdoutFiles(dir);
    for (const file of files) {
      const name = relative(FIXTURES, file);
      it(`${name}: every line decodes; counts match the raw text`, () => {
        const text = readFileSync(file, 'utf8');
        const t = decodeFile(file);
        expect(t.lines).toBe(rawLines(text));
        expect(t.undecodable).toEqual([]);
        expect(t.kinds.ready).toBe(1);
        expect(t.kinds.attaching).toBeLessThanOrEqual(1);
        expect(t.lost).toBe(rawLost(text));
        expect(t.kinds.event).toBe(rawEvents(text));
        expect(t.kinds.event).toBeGreaterThan(0);
        // Everything is accounted for: events, markers, lost reports, empty lines.
        expect(t.kinds.event + t.kinds.ready + t.kinds.attaching + t.kinds.lost + t.kinds.ignored).toBe(t.lines);
        // Lost-event reports exist only where the capture provoked them.
        if (/lost/.test(file)) expect(t.lost).toBeGreaterThan(0);
        else expect(t.lost).toBe(0);
      });
    }
  }
});

describe('the captures of test/fixtures/captured (see its README for the traffic)', () => {
  const captured = dirs.filter((d) => d.includes(join('fixtures', 'captured')));
  for (const dir of captured) {
    const rel = relative(FIXTURES, dir);
    const drops = (f: string) => decodeFile(join(dir, f)).events as DropWire[];

    it(`${rel}: text mode — attach line, ready, 5 NO_SOCKET drops of 127.0.0.1:40123 → :9999`, () => {
      const t = decodeFile(join(dir, 'text.stdout'));
      expect(t.kinds.attaching).toBe(1);
      const d = t.events as DropWire[];
      expect(d).toHaveLength(5);
      for (const e of d) {
        expect(e).toMatchObject({ t: 'drop', l3: 4, l4: 17, sport: 40123, dport: 9999, eth: 0x0800 });
        expect(ipv4FromWord(e.s4)).toBe('127.0.0.1');
        expect(ipv4FromWord(e.d4)).toBe('127.0.0.1');
        expect(e.loc).toMatch(/^0xffffffff[0-9a-f]{8}$/);
        expect(e.iif).toBeGreaterThan(0); // came in on lo: ingress
      }
      // Timestamps increase.
      for (let i = 1; i < d.length; i++) expect(d[i].ts).toBeGreaterThan(d[i - 1].ts);
    });

    it(`${rel}: -f json mode — attached_probes, ready, 3 drops through printf envelopes`, () => {
      const t = decodeFile(join(dir, 'json.stdout'));
      expect(t.kinds.attaching).toBe(1);
      const d = t.events as DropWire[];
      expect(d).toHaveLength(3);
      for (const e of d) expect(e).toMatchObject({ t: 'drop', sport: 40123, dport: 9999 });
    });

    it(`${rel}: lost events (both shapes) plus printed drops account for the 1000-datagram burst`, () => {
      for (const f of ['lost-text.stdout', 'lost-json.stdout']) {
        const t = decodeFile(join(dir, f));
        const ours = (t.events as DropWire[]).filter((e) => e.sport === 40124 && e.dport === 9999);
        expect(t.lost, f).toBeGreaterThan(0);
        expect(ours.length + t.lost, f).toBeGreaterThanOrEqual(1000);
        // Every drop line bpftrace printed (counted on the raw text, not through the decoder) decoded as an event.
        const raw = readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.includes('\\"t\\":\\"drop\\"') || l.startsWith('{"t":"drop"')).length;
        expect(raw, f).toBeGreaterThan(0);
        expect(t.kinds.event, f).toBe(raw);
      }
    });
  }
});

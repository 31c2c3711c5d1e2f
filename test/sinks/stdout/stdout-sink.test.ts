import { describe, it, expect } from 'vitest';
import { StdoutJsonSink } from '../../../src/sinks/stdout/stdout-sink.js';
import type { EcsRecord } from '../../../src/record/ecs.js';

const rec = (n: number): EcsRecord => ({
  '@timestamp': '2024-01-01T00:00:00.000Z',
  event: { kind: 'metric', category: ['network'], action: 'packet-dropped', dataset: 'droptrace.flows' },
  droptrace: { id: `r${n}`, count: n },
});

describe('StdoutJsonSink', () => {
  it('one JSON line per record, closes its writer, counts what it wrote', async () => {
    const lines: string[] = [];
    let closed = false;
    const s = new StdoutJsonSink({ write: (l) => lines.push(l), close: async () => { closed = true; } });
    s.write(rec(1));
    s.write(rec(2));
    await s.flush();
    await s.close();
    expect(lines.map((l) => JSON.parse(l))).toEqual([rec(1), rec(2)]);
    expect(lines.every((l) => !l.includes('\n'))).toBe(true);
    expect(closed).toBe(true);
    expect(s.stats()).toEqual({ written: 2 });
    expect(s.name).toBe('stdout');
  });
});

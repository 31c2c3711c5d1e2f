import { describe, it, expect } from 'vitest';
import { LineSplitter } from '../../src/source/line-splitter.js';

function collect(maxLine?: number) {
  const lines: string[] = [];
  const overlong: number[] = [];
  const s = new LineSplitter((l) => lines.push(l), maxLine, (n) => overlong.push(n));
  return { s, lines, overlong };
}

describe('LineSplitter', () => {
  it('splits complete lines and keeps a partial one for the next chunk', () => {
    const { s, lines } = collect();
    s.push('a\nb');
    expect(lines).toEqual(['a']);
    s.push('c\nd\n');
    expect(lines).toEqual(['a', 'bc', 'd']);
  });

  it('a line split across many chunks, byte by byte', () => {
    const { s, lines } = collect();
    const text = '{"t":"ready"}\n{"t":"drop","ts":1}\n';
    for (const ch of text) s.push(ch);
    expect(lines).toEqual(['{"t":"ready"}', '{"t":"drop","ts":1}']);
  });

  it('keeps empty lines and CRs (the decoder deals with them)', () => {
    const { s, lines } = collect();
    s.push('\n\nx\r\n');
    expect(lines).toEqual(['', '', 'x\r']);
  });

  it('end() flushes a last line without a newline, once', () => {
    const { s, lines } = collect();
    s.push('a\nlast');
    s.end();
    s.end();
    expect(lines).toEqual(['a', 'last']);
  });

  it('end() with nothing pending emits nothing', () => {
    const { s, lines } = collect();
    s.push('a\n');
    s.end();
    expect(lines).toEqual(['a']);
  });

  it('cuts an overlong line, reports it, and does not emit its tail as a line', () => {
    const { s, lines, overlong } = collect(10);
    s.push('ok\n' + 'x'.repeat(15));
    expect(lines).toEqual(['ok']);
    expect(overlong).toEqual([15]);
    s.push('yyyy');        // still the same overlong line
    s.push('zz\nnext\n');  // its end, then a real line
    expect(lines).toEqual(['ok', 'next']);
    expect(overlong).toEqual([15]);
  });

  it('recovers after an overlong line whose end arrives in the same chunk as more lines', () => {
    const { s, lines } = collect(8);
    s.push('123456789');
    s.push('0\na\nb');
    s.end();
    expect(lines).toEqual(['a', 'b']);
  });

  it('a line exactly at the limit is kept', () => {
    const { s, lines, overlong } = collect(10);
    s.push('x'.repeat(10));
    s.push('\n');
    expect(lines).toEqual(['x'.repeat(10)]);
    expect(overlong).toEqual([]);
  });

  it('multi-byte text passes through intact', () => {
    const { s, lines } = collect();
    s.push('日本\né');
    s.push('\n');
    expect(lines).toEqual(['日本', 'é']);
  });
});

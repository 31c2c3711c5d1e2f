import { describe, it, expect } from 'vitest';
import { escapeForTerminal } from '../../src/text/escape.js';

/** Characters that must never reach a terminal raw. */
const DANGEROUS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;

describe('escapeForTerminal', () => {
  it('escapes every C0 control as \\xNN', () => {
    for (let c = 0; c < 0x20; c++) {
      const out = escapeForTerminal(`a${String.fromCharCode(c)}b`);
      expect(out).toBe(`a\\x${c.toString(16).padStart(2, '0')}b`);
    }
  });

  it('escapes DEL and every C1 control (U+0080–U+009F)', () => {
    expect(escapeForTerminal('\u007f')).toBe('\\x7f');
    for (let c = 0x80; c <= 0x9f; c++) {
      expect(escapeForTerminal(String.fromCharCode(c))).toBe(`\\x${c.toString(16)}`);
    }
  });

  it('neutralises ESC sequences (colours, OSC title, cursor moves)', () => {
    expect(escapeForTerminal('\x1b[31mred\x1b[0m')).toBe('\\x1b[31mred\\x1b[0m');
    expect(escapeForTerminal('\x1b]0;pwned\x07')).toBe('\\x1b]0;pwned\\x07');
    expect(escapeForTerminal('\x9b2J')).toBe('\\x9b2J'); // 8-bit CSI
    expect(escapeForTerminal('a\rb\nc\td')).toBe('a\\x0db\\x0ac\\x09d');
  });

  it.each([0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069])('escapes bidi control U+%s', (cp) => {
    const out = escapeForTerminal(`x${String.fromCodePoint(cp)}y`);
    expect(out).toBe(`x\\u{${cp.toString(16)}}y`);
  });

  it('escapes zero-width and other invisible format characters', () => {
    for (const cp of [0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028, 0x2029, 0x061c, 0xfeff]) {
      expect(escapeForTerminal(String.fromCodePoint(cp))).toBe(`\\u{${cp.toString(16)}}`);
    }
  });

  it('doubles backslashes so an escaped name cannot be forged', () => {
    expect(escapeForTerminal('\\')).toBe('\\\\');
    expect(escapeForTerminal('a\\x1bb')).toBe('a\\\\x1bb');
    // A real ESC and a literal "\x1b" text stay distinguishable.
    expect(escapeForTerminal('\x1b')).not.toBe(escapeForTerminal('\\x1b'));
  });

  it('leaves normal text and Unicode untouched', () => {
    for (const s of ['eth0', 'veth-b', 'café', 'é', '日本', 'Ελλάδα', 'emoji 🚀', 'a b', '~!@#$%^&*()_+{}|:"<>?', 'ñ\u00a0x', '']) {
      expect(escapeForTerminal(s)).toBe(s);
    }
  });

  it('handles astral characters and lone surrogates without throwing', () => {
    expect(escapeForTerminal('🚀\u202e🚀')).toBe('🚀\\u{202e}🚀');
    expect(() => escapeForTerminal('\ud800x')).not.toThrow();
  });

  it('no output of a random string contains a dangerous character', () => {
    let seed = 99;
    const rnd = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    const pool = [0, 7, 9, 10, 13, 27, 0x5c, 0x7f, 0x85, 0x9b, 0x9f, 0xa0, 0xe9, 0x202e, 0x2066, 0x2069, 0x200b, 0xfeff, 0x65e5, 0x41, 0x1f680];
    for (let i = 0; i < 500; i++) {
      const s = Array.from({ length: 1 + rnd(20) }, () => String.fromCodePoint(pool[rnd(pool.length)])).join('');
      expect(escapeForTerminal(s)).not.toMatch(DANGEROUS);
    }
  });
});

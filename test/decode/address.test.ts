import { describe, it, expect } from 'vitest';
import { ipv4FromWord, ipv6BytesFromWords, ipv6FromWords, compressIpv6 } from '../../src/decode/address.js';

// The probe reads network-order address bytes as little-endian words
// (probes/drops/kfree_skb.bt): byte 0 of the address is the word's low byte.
function leWord(bytes: number[]): number {
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
}
/** What `printf("%08x%08x%08x%08x", w0, w1, w2, w3)` prints for these 16 bytes. */
function wordsHex(bytes: number[]): string {
  let s = '';
  for (let i = 0; i < 16; i += 4) s += leWord(bytes.slice(i, i + 4)).toString(16).padStart(8, '0');
  return s;
}
function groupsToBytes(groups: number[]): number[] {
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

describe('ipv4FromWord', () => {
  it('reads the low byte first (127.0.0.1 is the word 0x0100007f = 16777343)', () => {
    expect(ipv4FromWord(16777343)).toBe('127.0.0.1');
    expect(ipv4FromWord(0x0100007f)).toBe('127.0.0.1');
  });
  it('handles the high bit (no sign problems)', () => {
    expect(ipv4FromWord(leWord([10, 1, 0, 200]))).toBe('10.1.0.200');
    expect(ipv4FromWord(leWord([192, 168, 1, 255]))).toBe('192.168.1.255');
    expect(ipv4FromWord(0xffffffff)).toBe('255.255.255.255');
    expect(ipv4FromWord(0)).toBe('0.0.0.0');
  });
  it('is not byte-swapped the wrong way', () => {
    expect(ipv4FromWord(leWord([1, 2, 3, 4]))).toBe('1.2.3.4');
    expect(ipv4FromWord(0x01020304)).toBe('4.3.2.1');
  });
});

describe('ipv6BytesFromWords', () => {
  it('turns four little-endian %08x words back into network-order bytes', () => {
    // 2001:db8::1 → bytes 20 01 0d b8 … 00 01; first word read LE = 0xb80d0120.
    expect(ipv6BytesFromWords('b80d0120000000000000000001000000')).toEqual([
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
  });
  it('accepts a 0x prefix', () => {
    expect(ipv6BytesFromWords('0x' + wordsHex(Array.from({ length: 16 }, (_, i) => i)))).toEqual(Array.from({ length: 16 }, (_, i) => i));
  });
  it('round-trips arbitrary bytes through the probe encoding', () => {
    const bytes = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
    expect(ipv6BytesFromWords(wordsHex(bytes))).toEqual(bytes);
  });
});

describe('ipv6FromWords (RFC 5952)', () => {
  const cases: Array<[string, number[]]> = [
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
    ['2001:db8::1', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]],
    ['fe80::211:22ff:fe33:4455', [0xfe80, 0, 0, 0, 0x211, 0x22ff, 0xfe33, 0x4455]],
    // Longest run wins; on a tie the first one.
    ['1:0:0:1::1', [1, 0, 0, 1, 0, 0, 0, 1]],
    ['1::1:0:0:1', [1, 0, 0, 0, 1, 0, 0, 1]],
    ['1::1:0:0:1:1', [1, 0, 0, 1, 0, 0, 1, 1]],
    // A single zero group is never compressed.
    ['2001:db8:0:1:1:1:1:1', [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]],
    ['1:2:3:4:5:6:7:0', [1, 2, 3, 4, 5, 6, 7, 0]],
    ['0:1:2:3:4:5:6:7', [0, 1, 2, 3, 4, 5, 6, 7]],
    // Lowercase, no leading zeros.
    ['2001:db8:abcd:12::ff00:42', [0x2001, 0x0db8, 0xabcd, 0x0012, 0, 0, 0xff00, 0x0042]],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', Array(8).fill(0xffff)],
  ];
  it.each(cases)('%s', (want, groups) => {
    expect(ipv6FromWords(wordsHex(groupsToBytes(groups)))).toBe(want);
    expect(compressIpv6(groups)).toBe(want);
  });

  it('prints IPv4-mapped addresses in dotted form', () => {
    const b = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 200];
    expect(ipv6FromWords(wordsHex(b))).toBe('::ffff:10.1.0.200');
  });

  it('does not treat near-misses as IPv4-mapped', () => {
    const b = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 10, 1, 0, 200];
    expect(ipv6FromWords(wordsHex(b))).toBe('::1:ffff:a01:c8');
    const c = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 10, 1, 0, 200];
    expect(ipv6FromWords(wordsHex(c))).toBe('::fffe:a01:c8');
  });

  it('agrees with the WHATWG URL parser on random addresses', () => {
    // URL's host serializer implements RFC 5952 compression (no v4 dotted tail).
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
    for (let n = 0; n < 300; n++) {
      const bytes = Array.from({ length: 16 }, () => (rnd() < 110 ? 0 : rnd()));
      if (bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) continue;
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
      const ref = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
      expect(ipv6FromWords(wordsHex(bytes))).toBe(ref);
    }
  });
});

// Addresses arrive as raw memory words read little-endian by the probe
// (x86-64, arm64): s4 a 32-bit word, s6 four 32-bit words printed %08x.
// Turning them back into bytes here keeps the BPF side cheap and string-free.

export function ipv4FromWord(word: number): string {
  return `${word & 0xff}.${(word >>> 8) & 0xff}.${(word >>> 16) & 0xff}.${(word >>> 24) & 0xff}`;
}

/** 32 hex digits = four little-endian 32-bit words → the 16 address bytes. */
export function ipv6BytesFromWords(hex: string): number[] {
  const h = hex.startsWith('0x') ? hex.slice(2) : hex;
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = parseInt(h.slice(w * 8, w * 8 + 8), 16) >>> 0;
    bytes.push(word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, (word >>> 24) & 0xff);
  }
  return bytes;
}

export function ipv6FromWords(hex: string): string {
  const b = ipv6BytesFromWords(hex);
  // IPv4-mapped (::ffff:a.b.c.d): dual-stack sockets report v4 peers this way.
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  return compressIpv6(groups);
}

/** RFC 5952: lowercase, no leading zeros, longest run (≥ 2) of zero groups → "::". */
export function compressIpv6(groups: number[]): string {
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

/**
 * Source and destination of a wire event as text (undefined when neither IPv4
 * nor IPv6, or when the event does not hold that side: a map key without it).
 */
export function wireAddresses(ev: { l3?: unknown; s4?: unknown; d4?: unknown; s6?: unknown; d6?: unknown }): [string | undefined, string | undefined] {
  if (ev.l3 === 4) return [typeof ev.s4 === 'number' ? ipv4FromWord(ev.s4) : undefined, typeof ev.d4 === 'number' ? ipv4FromWord(ev.d4) : undefined];
  if (ev.l3 === 6) return [typeof ev.s6 === 'string' ? ipv6FromWords(ev.s6) : undefined, typeof ev.d6 === 'string' ? ipv6FromWords(ev.d6) : undefined];
  return [undefined, undefined];
}

/** An address as iproute2 or a user writes it → the spelling wireAddresses() produces (RFC 5952 for IPv6). */
export function canonicalIp(text: string): string {
  if (!text.includes(':')) return text;
  const lower = text.toLowerCase();
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (v4 && /^(0{0,4}:){0,5}:?ffff:$/.test(v4[1].replace(/^::/, ':'))) return `::ffff:${v4[2]}`;
  const [head, tail] = lower.includes('::') ? lower.split('::') : [lower, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return lower;
  return compressIpv6(groups.map((g) => parseInt(g, 16)));
}

/** An IPv4 or IPv6 address (text) as one number and its width in bits (32 or 128), for prefix arithmetic; undefined when it is no address. */
export function ipToBig(ip: string): { v: bigint; bits: number } | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) {
    const p = ip.split('.').map(Number);
    if (p.some((x) => x > 255)) return undefined;
    return { v: BigInt(((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3]), bits: 32 };
  }
  if (!ip.includes(':')) return undefined;
  let s = ip;
  // ::ffff:1.2.3.4 tail
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = ipToBig(v4[1]);
    if (!b) return undefined;
    s = s.slice(0, -v4[1].length) + ((b.v >> 16n) & 0xffffn).toString(16) + ':' + (b.v & 0xffffn).toString(16);
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array(fill).fill('0'), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return { v: groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n), bits: 128 };
}

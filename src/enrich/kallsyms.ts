// Kernel address → "symbol+0xoff/0xsize [module]".
// /proc/kallsyms is not sorted across modules and may list aliases at one
// address; we sort once and binary-search. Sizes are the distance to the next
// distinct address (kallsyms carries no sizes). With kptr_restrict hiding
// addresses every line reads 0: the symbolizer then reports `available=false`
// and callers print raw hex (one warning, no failure).
import { readFileSync } from 'node:fs';

export interface Symbol {
  address: bigint;
  name: string;
  module?: string;
  size: bigint;
}

export interface Location {
  address: string; // "0xffffffff8123abcd"
  symbol?: string;
  offset?: number;
  size?: number;
  module?: string;
}

// Text and weak symbols only: data symbols never appear as a drop location.
const CODE_TYPES = new Set(['t', 'T', 'w', 'W']);

export class KallsymsSymbolizer {
  // Column storage: ~120k code symbols on a typical kernel cost ~100 MB as
  // objects with BigInt fields, a few MB as typed arrays.
  private readonly addrs: BigUint64Array;
  private readonly sizes: Float64Array;
  private readonly names: string[];
  /** Module name per symbol (interned strings), undefined for vmlinux. */
  private readonly modules: (string | undefined)[];
  private readonly cache = new Map<string, Location>();
  /** Every code symbol name (aliases included) → its first address. */
  private readonly byName = new Map<string, bigint>();
  readonly available: boolean;

  constructor(text: string) {
    const addrList: bigint[] = [];
    const nameList: string[] = [];
    const modList: (string | undefined)[] = [];
    const modIntern = new Map<string, string>();
    let nonZero = 0;
    let pos = 0;
    while (pos < text.length) {
      let eol = text.indexOf('\n', pos);
      if (eol < 0) eol = text.length;
      const line = text.slice(pos, eol);
      pos = eol + 1;
      // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t nft_do_chain\t[nf_tables]"
      const sp1 = line.indexOf(' ');
      if (sp1 <= 0) continue;
      const type = line[sp1 + 1];
      if (!CODE_TYPES.has(type)) continue;
      const rest = line.slice(sp1 + 3);
      const tab = rest.indexOf('\t');
      const name = tab < 0 ? rest.trimEnd() : rest.slice(0, tab);
      const modMatch = tab < 0 ? null : /\[([^\]]+)\]/.exec(rest.slice(tab));
      let address: bigint;
      try {
        address = BigInt('0x' + line.slice(0, sp1));
      } catch {
        continue;
      }
      if (address !== 0n) nonZero++;
      let mod: string | undefined;
      if (modMatch) {
        mod = modIntern.get(modMatch[1]);
        if (mod === undefined) modIntern.set(modMatch[1], (mod = modMatch[1]));
      }
      addrList.push(address);
      nameList.push(name);
      modList.push(mod);
    }
    this.available = nonZero > 0;
    const order = Array.from(addrList.keys()).sort((a, b) => (addrList[a] < addrList[b] ? -1 : addrList[a] > addrList[b] ? 1 : a - b));
    // Before aliases collapse below, so addressOf finds every name (lowest
    // address first). Zeroed (hidden) addresses are not addresses.
    for (const i of order) if (addrList[i] !== 0n && !this.byName.has(nameList[i])) this.byName.set(nameList[i], addrList[i]);
    // Collapse aliases (same address): keep the first name, prefer a non-underscore one.
    const keep: number[] = [];
    for (const i of order) {
      const last = keep[keep.length - 1];
      if (last !== undefined && addrList[last] === addrList[i]) {
        if (nameList[last].startsWith('_') && !nameList[i].startsWith('_')) keep[keep.length - 1] = i;
        continue;
      }
      keep.push(i);
    }
    this.addrs = BigUint64Array.from(keep.map((i) => addrList[i]));
    this.names = keep.map((i) => nameList[i]);
    this.modules = keep.map((i) => modList[i]);
    this.sizes = new Float64Array(keep.length);
    for (let i = 0; i < keep.length - 1; i++) this.sizes[i] = Number(this.addrs[i + 1] - this.addrs[i]);
  }

  static fromFile(path = '/proc/kallsyms'): KallsymsSymbolizer {
    return new KallsymsSymbolizer(readFileSync(path, 'utf8'));
  }

  get symbolCount(): number {
    return this.names.length;
  }

  /** Exact address of a symbol by name (lowest if repeated; aliases included; undefined if hidden), e.g. to recognise ip_forward. */
  addressOf(name: string): bigint | undefined {
    return this.byName.get(name);
  }

  lookup(hexAddress: string): Location {
    const hit = this.cache.get(hexAddress);
    if (hit) return hit;
    const loc = this.resolve(hexAddress);
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(hexAddress, loc);
    return loc;
  }

  private resolve(hexAddress: string): Location {
    let addr: bigint;
    try {
      addr = BigInt(hexAddress);
    } catch {
      return { address: hexAddress };
    }
    const address = '0x' + addr.toString(16).padStart(16, '0');
    if (!this.available || addr === 0n) return { address };
    // Largest symbol address <= addr.
    let lo = 0, hi = this.addrs.length - 1, idx = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.addrs[mid] <= addr) { idx = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (idx < 0) return { address };
    const size = this.sizes[idx];
    const offset = Number(addr - this.addrs[idx]);
    // Past the last symbol or far beyond any plausible function: don't guess.
    if (size === 0 || offset >= size) return { address };
    return { address, symbol: this.names[idx], offset, size, module: this.modules[idx] };
  }
}

/** "nft_do_chain+0x3c4/0x5a0 [nf_tables]" or the raw address. */
export function formatLocation(loc: Location): string {
  if (!loc.symbol) return loc.address;
  const base = `${loc.symbol}+0x${(loc.offset ?? 0).toString(16)}/0x${(loc.size ?? 0).toString(16)}`;
  return loc.module ? `${base} [${loc.module}]` : base;
}

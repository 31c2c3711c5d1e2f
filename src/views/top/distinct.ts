// Distinct-flow counts per top row, bounded: exact up to 1,024 keys, then a
// HyperLogLog (1,024 one-byte registers, ~3 % error) — a UDP flood from 60 k
// source ports costs 1 KB per row, not 60 k strings.
import { createHash } from 'node:crypto';

const EXACT = 1024;
const P = 10;
const M = 1 << P;
const ALPHA = 0.7213 / (1 + 1.079 / M);

export class DistinctCounter {
  private exact: Set<string> | null = new Set();
  private regs: Uint8Array | null = null;

  add(key: string): void {
    if (this.exact) {
      this.exact.add(key);
      if (this.exact.size <= EXACT) return;
      this.regs = new Uint8Array(M);
      for (const k of this.exact) this.hll(k);
      this.exact = null;
      return;
    }
    this.hll(key);
  }

  private hll(key: string): void {
    const h = createHash('sha1').update(key).digest();
    const x = h.readUInt32BE(0);
    const idx = x >>> (32 - P);
    const w = ((x << P) >>> 0) | (1 << (P - 1));
    const rank = Math.clz32(w) + 1;
    if (rank > this.regs![idx]) this.regs![idx] = rank;
  }

  get size(): number {
    if (this.exact) return this.exact.size;
    let sum = 0;
    let zeros = 0;
    for (const r of this.regs!) {
      sum += 2 ** -r;
      if (r === 0) zeros++;
    }
    const e = (ALPHA * M * M) / sum;
    return Math.round(e <= 2.5 * M && zeros > 0 ? M * Math.log(M / zeros) : e);
  }

  get estimated(): boolean {
    return this.exact === null;
  }
}

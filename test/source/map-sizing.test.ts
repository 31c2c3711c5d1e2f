import { describe, it, expect } from 'vitest';
import { kernelMapSizing, statsElementsPerKey } from '../../src/source/map-sizing.js';

const V = (minor: number) => ({ major: 0, minor, patch: 0, text: `0.${minor}.0` });

describe('kernelMapSizing: bpftrace maps big enough for --max-flows', () => {
  it('bpftrace 0.17 stores a stats() entry as two elements (measured: key 120 B, value 8 B): twice the flows, plus slack', () => {
    expect(statsElementsPerKey(V(17))).toBe(2);
    expect(kernelMapSizing(V(17), 16384)).toEqual({ keys: 2 * 16384 + 1024, env: { BPFTRACE_MAP_KEYS_MAX: String(2 * 16384 + 1024) }, elementsPerFlow: 2 });
  });

  it('bpftrace 0.23: one element per flow; the variable was renamed in 0.19', () => {
    expect(kernelMapSizing(V(23), 16384)).toEqual({ keys: 16384 + 1024, env: { BPFTRACE_MAX_MAP_KEYS: String(16384 + 1024) }, elementsPerFlow: 1 });
    expect(Object.keys(kernelMapSizing(V(19), 10).env)).toEqual(['BPFTRACE_MAX_MAP_KEYS']);
    expect(Object.keys(kernelMapSizing(V(18), 10).env)).toEqual(['BPFTRACE_MAP_KEYS_MAX']);
  });

  it('never below what the bound needs: always above the default 4,096 that lost flows silently at 16,384', () => {
    for (const v of [17, 19, 20, 21, 23]) {
      for (const flows of [1, 50, 4096, 16384, 1_000_000]) {
        const s = kernelMapSizing(V(v), flows);
        expect(s.keys).toBeGreaterThanOrEqual(flows * s.elementsPerFlow + 1);
      }
    }
  });

  it('--kernel-map-keys overrides it as given (the test of the counted loss); 0 means computed', () => {
    expect(kernelMapSizing(V(23), 16384, 1500).keys).toBe(1500);
    expect(kernelMapSizing(V(23), 16384, 0).keys).toBe(17408);
    expect(kernelMapSizing(V(17), 16384, 2048.7).env).toEqual({ BPFTRACE_MAP_KEYS_MAX: '2048' });
  });
});

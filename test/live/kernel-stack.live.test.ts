// Live: `tail --kernel-stack` attaches each drop's kernel stack, symbolized
// by our own kallsyms reader (bpftrace's names are discarded).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, PY_UDP_SEND, nstat, nstatDelta } from '../helpers/netns.js';
import { startDroptrace, sleep } from '../helpers/droptrace-process.js';

describe('tail --kernel-stack', () => {
  const lab = new Lab();
  let A: string, B: string;
  beforeAll(() => {
    A = lab.ns('A');
    B = lab.ns('B');
    lab.link(A, '10.204.1.1/24', B, '10.204.1.2/24', `${lab.prefix}k`);
  });
  afterAll(() => lab.cleanup());

  it('a UDP drop at a closed port carries its stack, from the drop site down, without BPF frames', async () => {
    const dt = startDroptrace(['tail', '--json', '--kernel-stack', '--filter-netns', String(lab.netnsInode(B))]);
    try {
      await dt.ready();
      const before = nstat(B);
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.204.1.2', '40301', '3', '41301']);
      // The kernel's own count of datagrams to a closed port.
      const noPorts = nstatDelta(before, nstat(B)).UdpNoPorts;
      expect(noPorts).toBe(3);
      let recs: any[] = [];
      for (let i = 0; i < 100 && recs.length < noPorts; i++) {
        await sleep(100);
        recs = dt.json().filter((r) => r.destination?.port === 40301);
      }
      expect(recs).toHaveLength(noPorts);
      for (const r of recs) {
        expect(r.event.reason).toBe('NO_SOCKET');
        const stack: string[] = r.droptrace.drop.stack;
        expect(stack.length).toBeGreaterThanOrEqual(4);
        expect(stack.some((f) => f.startsWith('__udp4_lib_rcv+0x'))).toBe(true);
        expect(stack.some((f) => f.startsWith('bpf_') || f.startsWith('__bpf_'))).toBe(false);
        // The drop site (location) is one of the first frames.
        expect(stack.slice(0, 3).some((f) => f.startsWith(r.droptrace.drop.location.symbol))).toBe(true);
      }
      // tail's own account when it stops: nothing lost or undecodable.
      expect(await dt.stop()).toBe(0);
      const summary = dt.stderr.find((l) => / events, \d+ lost, /.test(l)) ?? '';
      expect(summary).toMatch(/ 0 lost, /);
      expect(summary).toMatch(/ 0 undecodable lines/);
    } finally {
      await dt.stop();
      dt.cleanup();
    }
  });
});

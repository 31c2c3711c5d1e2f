// Live: `droptrace top` in a real terminal (tmux), fed by a UDP flood into an
// nft drop rule in namespaces we build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, spawnIn } from '../helpers/netns.js';
import { CLI, bpftraceUnderTest, sleep } from '../helpers/droptrace-process.js';

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });

describe('droptrace top (through tmux)', () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'droptrace-top-'));
  const session = `dtop${process.pid}`;
  let A: string, B: string;

  beforeAll(() => {
    ({ A, B } = lab.hosts('10.203.1', 't', 'udp dport 40201 counter drop comment "flood";'));
  });

  afterAll(() => {
    try { tmux('kill-session', '-t', session); } catch { /* already gone */ }
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the flooded flow at the top within 3 s, its total then equal to the nft counter; q exits cleanly', async () => {
    const ready = join(dir, 'ready');
    const exitFile = join(dir, 'exit');
    const bt = bpftraceUnderTest();
    const argv = [process.execPath, CLI, 'top', '--filter-netns', String(lab.netnsInode(B)), '--ready-file', ready, ...(bt ? ['--bpftrace', bt] : [])];
    // Arguments reach sh as positional parameters, never as shell text.
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '30', 'sh', '-c', '"$@" 2>/dev/null; echo $? > "$0"', exitFile, ...argv);
    for (let i = 0; i < 300 && !existsSync(ready); i++) await sleep(100);
    expect(existsSync(ready)).toBe(true);

    // In its own process group: killing it stops hping3 too, not only `timeout`.
    const flood = spawnIn(A, 'timeout', ['3', 'hping3', '--flood', '--udp', '-s', '5000', '-k', '-p', '40201', '-d', '32', '10.203.1.2']);
    const t0 = Date.now();
    let screen = '';
    let firstRow = '';
    while (Date.now() - t0 < 3000) {
      await sleep(200);
      screen = tmux('capture-pane', '-p', '-t', session);
      const lines = screen.split('\n');
      const header = lines.findIndex((l) => l.startsWith('FLOW'));
      firstRow = header >= 0 ? lines[header + 1] ?? '' : '';
      if (firstRow.includes('10.203.1.1:5000 → 10.203.1.2:40201')) break;
    }
    expect(firstRow).toContain('udp 10.203.1.1:5000 → 10.203.1.2:40201');
    expect(firstRow).toContain('ingress');
    expect(firstRow).toContain('NETFILTER_DROP');
    expect(Date.now() - t0).toBeLessThan(3000);

    // After the flood, once the last 1 s window is in, the flow's TOTAL column is the kernel's own count.
    await flood.done;
    flood.kill();
    const counter = lab.nftCounter(B, 'dtest', 'flood');
    const totalOf = () => {
      const lines = tmux('capture-pane', '-p', '-t', session).split('\n');
      const row = lines.find((l) => l.includes('10.203.1.1:5000 → 10.203.1.2:40201')) ?? '';
      // FLOW DIR DROPS RETX … TOTAL LAST …: the TOTAL column, by the header's titles after DIR.
      const header = lines.find((l) => / DIR +DROPS /.test(l)) ?? '';
      const titles = header.slice(header.indexOf(' DIR ') + ' DIR '.length).trim().split(/\s+/).map((t) => t.replace(/^\*/, ''));
      const nums = row.slice(row.indexOf('ingress') + 'ingress'.length).trim().split(/\s+/).map(Number);
      return nums[titles.indexOf('TOTAL')];
    };
    let total = totalOf();
    for (let i = 0; i < 50 && total !== counter; i++) {
      await sleep(100);
      total = totalOf();
    }
    expect(total).toBe(counter);

    // Switch to the reasons view, then quit.
    tmux('send-keys', '-t', session, 'r');
    await sleep(500);
    expect(tmux('capture-pane', '-p', '-t', session)).toMatch(/^REASON/m);
    tmux('send-keys', '-t', session, 'q');
    for (let i = 0; i < 100 && !existsSync(exitFile); i++) await sleep(100);
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0');
  });
});

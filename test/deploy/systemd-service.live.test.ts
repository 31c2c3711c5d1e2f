// Live: deploy/systemd/droptrace.service's ExecStart, Environment= and
// directories, run as systemd would run them (PID 1 here is not systemd):
// the install tree from `scripts/install-service --root`, the unit's
// capability bounding set and no-new-privileges (setpriv), its read-only
// file system with only State/Logs/RuntimeDirectory writable, a private
// /tmp and hidden homes (test/deploy/systemd-sandbox.sh, in a private mount
// namespace). Drops are checked against the nft rule's own counter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, PY_UDP_SEND } from '../helpers/netns.js';
import { REPO, bpftraceUnderTest, sleep } from '../helpers/droptrace-process.js';
import { readServiceSection, setprivCaps, capMask } from './systemd-unit.js';

const UNIT = join(REPO, 'deploy', 'systemd', 'droptrace.service');
const SANDBOX = join(REPO, 'test', 'deploy', 'systemd-sandbox.sh');
const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const unit = readServiceSection(UNIT);

interface Service {
  child: ChildProcess;
  stderr: string[];
  exited: Promise<number | null>;
}

describe('droptrace.service ExecStart with the unit’s capabilities and sandbox', () => {
  const lab = new Lab();
  let root: string;
  let state: string;
  let A: string, B: string, bDev: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'droptrace-svc-root-'));
    execFileSync(join(REPO, 'scripts', 'install-service'), ['--root', root], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...PATH_ENV, HOME: process.env.HOME ?? '/root' } });
    // Mount points the overlays expose (systemd creates these directories itself).
    for (const d of ['var/lib/droptrace', 'var/log/droptrace']) mkdirSync(join(root, d), { recursive: true });
    ({ A, B } = lab.hosts('10.241.1', 's', 'udp dport 40241 counter drop comment "svc-drop"'));
    bDev = `${lab.prefix}sb`;
  });

  afterAll(() => {
    lab.cleanup();
    rmSync(root, { recursive: true, force: true });
    if (state) rmSync(state, { recursive: true, force: true });
  });

  function freshState(): string {
    if (state) rmSync(state, { recursive: true, force: true });
    state = mkdtempSync(join(tmpdir(), 'droptrace-svc-state-'));
    // StateDirectoryMode=0700, LogsDirectoryMode=0700, RuntimeDirectoryMode=0755.
    mkdirSync(join(state, 'lib'), { mode: 0o700 });
    mkdirSync(join(state, 'log'), { mode: 0o700 });
    mkdirSync(join(state, 'run'), { mode: 0o755 });
    return state;
  }

  function start(extraEnv: string[]): Service {
    const args = ['--mount', '--propagation', 'private', '--', 'bash', SANDBOX, root, state, setprivCaps(unit.capabilities), unit.workingDirectory, '--', ...unit.environment, ...extraEnv, '--', ...unit.execStart];
    const child = spawn('unshare', args, { env: PATH_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(...d.split('\n').filter(Boolean)));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    return { child, stderr, exited };
  }

  /** The unit's ExecStartPost (wait-ready) against the ready file, with systemd's $MAINPID. */
  function waitReady(pid: number): Promise<{ code: number | null; stderr: string }> {
    const [script, file, timeout] = unit.execStartPost;
    expect(script).toBe('/opt/droptrace/app/deploy/systemd/wait-ready');
    expect(file).toBe('/run/droptrace/ready');
    return new Promise((res) => {
      const c = spawn('sh', [join(REPO, 'deploy', 'systemd', 'wait-ready'), join(state, 'run', 'ready'), timeout], { env: { ...PATH_ENV, MAINPID: String(pid) }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      c.on('close', (code) => res({ code, stderr }));
    });
  }

  const bpftrace = bpftraceUnderTest() ?? '/usr/bin/bpftrace';
  const testEnv = [`DROPTRACE_BPFTRACE=${bpftrace}`, 'DROPTRACE_INTERVAL=1', 'DROPTRACE_FILTER_HOST=10.241.1.0/24'];

  it('runs with exactly the bounding set, writes records only where the unit allows, counts every drop, stops on SIGTERM in time', async () => {
    freshState();
    const svc = start(testEnv);
    const ready = await waitReady(svc.child.pid!);
    expect(ready.code, `${ready.stderr}\n${svc.stderr.join('\n')}`).toBe(0);
    const readyInfo = JSON.parse(readFileSync(join(state, 'run', 'ready'), 'utf8'));
    // The unit's ExecStart execs through to node itself: systemd's MAINPID is droptrace.
    expect(readyInfo.pid).toBe(svc.child.pid);

    const want = capMask(unit.capabilities);
    const status = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (s: string, k: string) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(s)![1];
    const main = status(svc.child.pid!);
    expect(BigInt('0x' + field(main, 'CapBnd'))).toBe(want);
    expect(BigInt('0x' + field(main, 'CapEff'))).toBe(want);
    expect(field(main, 'NoNewPrivs')).toBe('1');
    // bpftrace, spawned by droptrace, has no more than that either.
    const tracer = status(readyInfo.bpftracePid);
    expect(BigInt('0x' + field(tracer, 'CapBnd'))).toBe(want);

    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.241.1.2', '40241', '20', '41241']);
    const nft = lab.nftCounter(B, 'dtest', 'svc-drop');
    expect(nft).toBe(20);
    // Two window flushes after the traffic, then stop as systemd does.
    const flows = join(state, 'log', 'flows.ndjson');
    const counted = () => (existsSync(flows) ? readFileSync(flows, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
    const t0 = Date.now();
    while (Date.now() - t0 < 15_000 && !counted().some((r) => r.destination?.port === 40241)) await sleep(100);
    const stopAt = Date.now();
    svc.child.kill('SIGTERM');
    const code = await svc.exited;
    const stopMs = Date.now() - stopAt;
    expect(code, svc.stderr.join('\n')).toBe(0);
    expect(stopMs).toBeLessThan(unit.timeoutStopSec * 1000);

    const drops = counted().filter((r) => r.destination?.port === 40241 && r.event?.reason === 'NETFILTER_DROP');
    expect(drops.reduce((s, r) => s + r.droptrace.count, 0)).toBe(nft);
    // CAP_SYSLOG: locations by name; CAP_SYS_ADMIN (+ CAP_SYS_PTRACE): the interface name from B's netns.
    expect(drops[0].droptrace.drop.location.symbol).toBe('nft_do_chain');
    expect(drops[0].observer.ingress.interface.name).toBe(bDev);
    // UMask=0077 and LogsDirectoryMode=0700: records readable by root only.
    for (const f of readdirSync(join(state, 'log'))) expect(statSync(join(state, 'log', f)).mode & 0o077, f).toBe(0);
    // The final self-stats record: everything flushed on SIGTERM.
    const stats = readFileSync(join(state, 'log', 'stats.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(stats.at(-1).droptrace.stats.final).toBe(true);
    // The final accounting's zero counts ("errors":0) are not errors; any other mention is.
    expect(svc.stderr.filter((l) => /error/i.test(l.replace(/"errors":0\b/g, '')))).toEqual([]);
  });

  it('a broken config: one clear line, an exit code the unit does not restart on, and wait-ready fails at once', async () => {
    freshState();
    const cfg = join(root, 'etc', 'droptrace', 'droptrace.yaml');
    const saved = `${cfg}.saved`;
    copyFileSync(cfg, saved);
    try {
      writeFileSync(cfg, 'interval: soon\n');
      const svc = start([]);
      const [code, ready] = await Promise.all([svc.exited, waitReady(svc.child.pid!)]);
      expect(unit.restartPreventExitStatus).toContain(code);
      expect(svc.stderr[0]).toMatch(/^droptrace: error: .*\/etc\/droptrace\/droptrace\.yaml.*interval/);
      expect(ready.code).toBe(1);
      expect(ready.stderr).toMatch(/exited before attaching its probes/);
    } finally {
      copyFileSync(saved, cfg);
      rmSync(saved);
    }
  });
});

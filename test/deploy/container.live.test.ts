// Live: the container image (scripts/build-image) under podman + runc, run as
// the DaemonSet runs it: host network and PID namespaces, only the unit's five
// capabilities, tracefs, /run/netns (rslave, so namespaces made after the
// start appear) and the state, log and runtime directories mounted, 512 MiB.
// It must see drops the test makes in host namespaces created after it was
// ready, write records to the mounted directory that add up to the nft
// counter, stay inside 512 MiB through a many-flow flood, and flush and exit
// on SIGTERM within the stop timeout. bpftrace is the image's own (0.23).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, PY_UDP_SEND } from '../helpers/netns.js';
import { REPO, sleep } from '../helpers/droptrace-process.js';

const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root' };
const PODMAN = ['--runtime', 'runc'];
const CAPS = 'BPF,PERFMON,SYS_ADMIN,SYS_PTRACE,SYSLOG';
const STOP_TIMEOUT_S = 30; // the DaemonSet's terminationGracePeriodSeconds
const podman = (args: string[]) => execFileSync('podman', [...PODMAN, ...args], { encoding: 'utf8', env: PATH_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function runArgs(name: string, dir: string, extra: string[] = []): string[] {
  return [
    ...PODMAN, 'run', '--detach', '--name', name,
    '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=4096:4096',
    '--network=host', '--pid=host', '--cap-drop=all', `--cap-add=${CAPS}`, '--memory=512m', '--memory-swap=512m',
    '-v', '/sys/kernel/tracing:/sys/kernel/tracing', '-v', '/run/netns:/run/netns:rslave',
    '-v', `${dir}/log:/var/log/droptrace`, '-v', `${dir}/lib:/var/lib/droptrace`, '-v', `${dir}/run:/run/droptrace`,
    ...extra,
  ];
}

/** Records of one stream (flows, stats, …), rotated files included (a flood writes more than file-max-bytes). */
function records(dir: string, stream: string): Array<Record<string, any>> {
  return readdirSync(dir).filter((f) => f.startsWith(stream) && f.endsWith('.ndjson'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

/** Peak RSS (VmHWM) of a process, in MB. */
function peakRssMb(pid: number): number {
  return Number(/^VmHWM:\s*(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}
const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

describe('container image under podman, as the DaemonSet runs it', () => {
  const lab = new Lab();
  const name = `droptrace-test-${process.pid}`;
  let image: string;
  let dir: string;

  beforeAll(() => {
    // Warm: only `podman image exists`. Cold: mmdebstrap + import (~1 min here).
    image = execFileSync(join(REPO, 'scripts', 'build-image'), { encoding: 'utf8', env: PATH_ENV, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    dir = mkdtempSync(join(tmpdir(), 'droptrace-ct-'));
    for (const d of ['log', 'lib', 'run']) mkdirSync(join(dir, d), { mode: 0o700 });
  }, 1_200_000);

  afterAll(() => {
    spawnSync('podman', [...PODMAN, 'rm', '-f', '-t', '0', name], { env: PATH_ENV, stdio: 'ignore' });
    spawnSync('podman', [...PODMAN, 'rm', '-f', '-t', '0', `${name}-bare`], { env: PATH_ENV, stdio: 'ignore' });
    lab.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('without its mounts and capabilities it says in one line what is missing, and exits 3', () => {
    const r = spawnSync('podman', [...PODMAN, 'run', '--rm', '--name', `${name}-bare`, '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=4096:4096', image], { encoding: 'utf8', env: PATH_ENV });
    expect(r.status).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^droptrace: cannot start: missing capabilities CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYSLOG, CAP_PERFMON, CAP_BPF .*\/sys\/kernel\/tracing .*host PID namespace.*\/run\/netns/);
    expect(lines[0]).not.toMatch(/btf/); // the container's own /sys has the host's BTF
  });

  it('sees drops in host namespaces made after it was ready, counts them exactly, survives a many-flow flood in 512 MiB, flushes on SIGTERM', async () => {
    podman([...runArgs(name, dir), image, 'run', '--config', '/etc/droptrace/droptrace.yaml', '--ready-file', '/run/droptrace/ready', '--interval', '1', '--filter-host', '10.242.1.0/24']);
    const ready = join(dir, 'run', 'ready');
    const t0 = Date.now();
    while (!existsSync(ready)) {
      const state = podman(['inspect', '--format', '{{.State.Status}}', name]);
      if (state !== 'running') throw new Error(`container ${state} before ready:\n${podman(['logs', name])}`);
      if (Date.now() - t0 > 60_000) throw new Error(`not ready after 60 s:\n${podman(['logs', name])}`);
      await sleep(100);
    }
    const mainPid = Number(podman(['inspect', '--format', '{{.State.Pid}}', name]));
    expect(comm(mainPid)).toMatch(/^node/); // Node 26 names its main thread node-MainThread

    // Namespaces made now: only the rslave /run/netns mount lets the container name their interfaces.
    const { A, B } = lab.hosts('10.242.1', 'c', 'udp dport 40242 counter drop comment "ct-drop"\n    udp dport 40243 counter drop comment "ct-flood"');
    const bDev = `${lab.prefix}cb`;
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.242.1.2', '40242', '20', '41242']);
    const log = join(dir, 'log');
    const dropped = (port: number) => records(log, 'flows').filter((r) => r.event?.dataset === 'droptrace.flows' && r.event?.action === 'packet-dropped' && r.event?.reason === 'NETFILTER_DROP' && (r.destination?.port === port || (port === 40243 && r.droptrace?.overflow)));
    const sum = (rs: Array<Record<string, any>>) => rs.reduce((s, r) => s + Number(r.droptrace.count), 0);
    // Its window is written before the flood starts: in the flood's windows a
    // 20-packet flow may rank below the top-K and land in an overflow record.
    const t1 = Date.now();
    while (Date.now() - t1 < 15_000 && sum(dropped(40242)) < 20) await sleep(100);

    // The collector's own memory (anonymous pages: heap, buffers), sampled
    // through the flood and its windows; VmHWM below also counts the node
    // binary's ~50 MB of file-backed text.
    let peakAnonMb = 0;
    const anonMb = () => Number(/^RssAnon:\s*(\d+) kB/m.exec(readFileSync(`/proc/${mainPid}/status`, 'utf8'))![1]) / 1024;
    const sampler = setInterval(() => (peakAnonMb = Math.max(peakAnonMb, anonMb())), 50);

    // Many flows: hping3 steps the source port per packet (thousands of flows per window).
    const flood = spawn('ip', ['netns', 'exec', A, 'hping3', '--flood', '--udp', '-p', '40243', '-d', '32', '10.242.1.2'], { env: PATH_ENV, stdio: 'ignore', detached: true });
    await sleep(4000); // the flood's length, not a readiness wait
    process.kill(-flood.pid!, 'SIGKILL');
    await new Promise((r) => flood.once('close', r));
    const nftSmall = lab.nftCounter(B, 'dtest', 'ct-drop');
    const nftFlood = lab.nftCounter(B, 'dtest', 'ct-flood');
    expect(nftSmall).toBe(20);
    expect(nftFlood).toBeGreaterThan(50_000);

    // Windows close every second; wait until the flood's last window is written.
    const t2 = Date.now();
    while (Date.now() - t2 < 20_000 && sum(dropped(40243)) < nftFlood) await sleep(200);
    clearInterval(sampler);

    const tracers = childrenOf(mainPid).filter((p) => comm(p) === 'bpftrace');
    expect(tracers.length).toBeGreaterThan(0);
    const collectorMb = peakRssMb(mainPid);
    const bpftraceMb = Math.max(...tracers.map(peakRssMb));
    const cg = /:memory:(.+)$/m.exec(readFileSync(`/proc/${mainPid}/cgroup`, 'utf8'));
    const cgPeakMb = cg && existsSync(`/sys/fs/cgroup/memory${cg[1]}/memory.max_usage_in_bytes`)
      ? Number(readFileSync(`/sys/fs/cgroup/memory${cg[1]}/memory.max_usage_in_bytes`, 'utf8')) / 2 ** 20 : NaN;
    console.log(`container peak RSS: collector ${collectorMb.toFixed(0)} MB (anonymous ${peakAnonMb.toFixed(0)} MB), bpftrace ${bpftraceMb.toFixed(0)} MB, cgroup max usage ${cgPeakMb.toFixed(0)} MB; flood ${nftFlood} packets`);

    const stopAt = Date.now();
    execFileSync('podman', [...PODMAN, 'stop', '--time', String(STOP_TIMEOUT_S), name], { env: PATH_ENV, stdio: 'ignore' });
    const stopMs = Date.now() - stopAt;
    const [exitCode, oomKilled] = podman(['inspect', '--format', '{{.State.ExitCode}} {{.State.OOMKilled}}', name]).split(' ');
    expect(exitCode, podman(['logs', name])).toBe('0');
    expect(oomKilled).toBe('false');
    expect(stopMs).toBeLessThan(STOP_TIMEOUT_S * 1000);
    console.log(`SIGTERM → exit in ${stopMs} ms`);

    const small = dropped(40242);
    expect(sum(small), JSON.stringify(records(log, 'flows').filter((r) => r.destination?.port === 40242 || r.droptrace?.overflow).map((r) => [r.event.action, r.event.reason, r.droptrace.count, r.droptrace.overflow, r.event.start]))).toBe(nftSmall);
    expect(small[0].droptrace.drop.location.symbol).toBe('nft_do_chain');
    expect(small[0].observer.ingress.interface.name).toBe(bDev);
    expect(sum(dropped(40243))).toBe(nftFlood);
    expect(new Set(dropped(40243).map((r) => r.network.direction))).toEqual(new Set(['ingress']));
    const stats = records(log, 'stats');
    expect(stats.at(-1)!.droptrace.stats.final).toBe(true);
    expect(peakAnonMb).toBeGreaterThan(0);
    expect(peakAnonMb).toBeLessThan(200);
    expect(collectorMb + bpftraceMb).toBeLessThan(512);
    // Record streams (counters and findings since the diagnosis) and run's one-writer lock only.
    for (const f of readdirSync(log)) expect(f).toMatch(/^(events|flows|stats|counters|findings)[-.]|^\.droptrace\.lock$/);
  });
});

// Live: the safety promises of the README, checked against the real CLI, the
// real bpftrace under test and this kernel, in namespaces each block builds:
//   - kernel-derived names are escaped for terminals and exact in JSON,
//   - filters select flows in the kernel and hostile filter values are refused
//     before any bpftrace program is ever started,
//   - a killed bpftrace is restarted and the gap is reported,
//   - a host that cannot trace gets one clear error line, never a stack trace,
//   - `probes --json` tells the truth about the bpftrace and variants in use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, PY_UDP_SEND, sh } from '../helpers/netns.js';
import { bpftraceUnderTest, runDroptrace, sleep, startDroptrace, worldReadableCli, type Running } from '../helpers/droptrace-process.js';

async function waitFor<T>(what: string, get: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Records with this destination port that droptrace printed so far. */
const dropsTo = (dt: Running, port: number) =>
  dt.json().filter((r) => r.event?.action === 'packet-dropped' && r.destination?.port === port);

// Raw terminal-driving characters: C0 (but \n), DEL, C1, bidi/format controls.
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/u;

/** A CLI error: exit code, one "droptrace: error:" line (+ optional hint), no stack, nothing raw. */
function expectCleanError(r: { code: number | null; stdout: string; stderr: string }, code: number, mention: string | RegExp) {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const ctx = `stderr:\n${r.stderr}`;
  expect(r.code, ctx).toBe(code);
  expect(r.stdout, ctx).toBe('');
  expect(lines.length, ctx).toBeGreaterThanOrEqual(1);
  expect(lines.length, ctx).toBeLessThanOrEqual(2);
  expect(lines[0], ctx).toMatch(/^droptrace: error: \S/);
  if (typeof mention === 'string') expect(lines[0], ctx).toContain(mention);
  else expect(lines[0], ctx).toMatch(mention);
  if (lines[1] !== undefined) expect(lines[1], ctx).toMatch(/^ {2}hint: \S/);
  expect(r.stderr, ctx).not.toMatch(/^\s+at /m);
  expect(r.stderr, ctx).not.toMatch(/internal error|Error:|YError/);
  expect(RAW_UNSAFE.test(r.stderr), ctx).toBe(false);
}

// ---------------------------------------------------------------------------

describe('hostile interface name (ESC, bidi override, C1, quote, braces) in tail output', () => {
  const lab = new Lab();
  // 14 bytes: e ESC [31m " } U+202E(3 bytes) U+009B(2 bytes, C1 CSI) 1. The
  // kernel refuses only '/', ':' and whitespace in a name (and > 15 bytes).
  const NAME = 'e\x1b[31m"}\u202e\u009b1';
  const ESCAPED = 'e\\x1b[31m"}\\u{202e}\\x9b1';
  let A: string, B: string;
  let text: Running, json: Running;

  beforeAll(async () => {
    expect(Buffer.byteLength(NAME)).toBeLessThanOrEqual(15);
    A = lab.ns('A');
    B = lab.ns('B');
    const { bDev } = lab.link(A, '10.211.1.1/24', B, '10.211.1.2/24', `${lab.prefix}h`);
    sh('ip', ['-n', B, 'link', 'set', 'dev', bDev, 'down']);
    sh('ip', ['-n', B, 'link', 'set', 'dev', bDev, 'name', NAME]);
    sh('ip', ['-n', B, 'link', 'set', 'dev', NAME, 'up']);
    lab.nft(B, `table inet dtest {
      chain c_in { type filter hook input priority 0; udp dport 40601 counter drop comment "in-drop"; }
    }`);
    const only = ['--filter-netns', String(lab.netnsInode(B))];
    // Not a TTY (stdout is a pipe) and NO_COLOR: any ESC in the text output can only come from a name.
    text = startDroptrace(['tail', ...only], { NO_COLOR: '1' });
    json = startDroptrace(['tail', '--json', ...only], { NO_COLOR: '1' });
    await Promise.all([text.ready(), json.ready()]);
  });

  afterAll(async () => {
    await Promise.all([text?.stop(), json?.stop()]);
    text?.cleanup();
    json?.cleanup();
    lab.cleanup();
  });

  it('the kernel really has the hostile name', () => {
    const links = lab.exec(B, 'ip', ['-o', 'link', 'show']);
    expect(links).toContain(NAME);
  });

  it('tail prints the escaped name, never the raw bytes; tail --json keeps the exact name and adds no fields', async () => {
    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.211.1.2', '40601', '5', '41601']);
    expect(lab.nftCounter(B, 'dtest', 'in-drop')).toBe(5);

    const recs = await waitFor('5 JSON drop records', () => { const r = dropsTo(json, 40601); return r.length >= 5 && r; });
    const lines = await waitFor('5 text drop lines', () => { const l = text.stdout.filter((x) => x.includes(':40601')); return l.length >= 5 && l; });
    await sleep(500);

    // Text: every line carries the visible escape sequence; no raw ESC, C1 or bidi character anywhere.
    expect(lines).toHaveLength(5);
    for (const l of lines) {
      expect(l).toContain('NETFILTER_DROP');
      expect(l).toContain(`udp 10.211.1.1:41601 → 10.211.1.2:40601`);
      expect(l).toContain(`${ESCAPED} (netns ${lab.netnsInode(B)})`);
    }
    const allText = text.stdout.join('\n') + text.stderr.join('\n');
    expect(RAW_UNSAFE.test(allText)).toBe(false);
    expect(allText).not.toContain('\x1b');
    expect(allText).not.toContain('\u202e');

    // JSON: every stdout line parses; the name is exactly the kernel's; the
    // record has only the fields droptrace builds (nothing injected by the name).
    for (const l of json.stdout.filter((x) => x.trim())) expect(() => JSON.parse(l)).not.toThrow();
    expect(recs).toHaveLength(5);
    for (const r of recs) {
      expect(r.observer).toEqual({ ingress: { interface: { id: expect.stringMatching(/^\d+$/), name: NAME } } });
      expect(Object.keys(r).sort()).toEqual(['@timestamp', 'destination', 'droptrace', 'event', 'host', 'network', 'observer', 'source']);
      expect(r.source).toEqual({ ip: '10.211.1.1', port: 41601 });
      expect(r.destination).toEqual({ ip: '10.211.1.2', port: 40601 });
      expect(r.event.reason).toBe('NETFILTER_DROP');
      const keys: string[] = [];
      const walk = (o: unknown, p: string) => {
        if (o && typeof o === 'object' && !Array.isArray(o)) for (const [k, v] of Object.entries(o)) { keys.push(`${p}${k}`); walk(v, `${p}${k}.`); }
      };
      walk(r, '');
      for (const k of keys) expect(k).toMatch(/^[@a-z0-9_.]+$/);
      expect(keys.filter((k) => k.startsWith('observer'))).toEqual(['observer', 'observer.ingress', 'observer.ingress.interface', 'observer.ingress.interface.id', 'observer.ingress.interface.name']);
    }
    // The raw name appears only as a correctly escaped JSON string value.
    const raw = json.stdout.find((l) => l.includes('"port":40601'))!;
    expect(raw).toContain(`"name":${JSON.stringify(NAME)}`);
    expect(raw).not.toContain('\x1b');
  });
});

// ---------------------------------------------------------------------------

describe('--filter-port selects flows in the kernel', () => {
  const lab = new Lab();
  let A: string, B: string;
  let dt: Running;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.212.1', 'p', 'udp dport 40611 counter drop comment "wanted"; udp dport 40612 counter drop comment "other";'));
    dt = startDroptrace(['tail', '--json', '--filter-port', '40611']);
    await dt.ready();
  });

  afterAll(async () => {
    await dt?.stop();
    dt?.cleanup();
    lab.cleanup();
  });

  it('two dropped flows, only the filtered port is reported; the other was demonstrably dropped', async () => {
    // Interleave the two flows so both are dropped in the same period.
    for (let i = 0; i < 3; i++) {
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.212.1.2', '40612', '4', '41612']);
      lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.212.1.2', '40611', '2', '41611']);
    }
    expect(lab.nftCounter(B, 'dtest', 'wanted')).toBe(6);
    expect(lab.nftCounter(B, 'dtest', 'other')).toBe(12);
    const wanted = await waitFor('6 records for port 40611', () => { const r = dropsTo(dt, 40611); return r.length >= 6 && r; });
    await sleep(1500); // time for any record the filter should have stopped
    expect(wanted).toHaveLength(6);
    for (const r of wanted) {
      expect(r.source).toEqual({ ip: '10.212.1.1', port: 41611 });
      expect(r.event.reason).toBe('NETFILTER_DROP');
      expect(r.droptrace.netns.inode).toBe(lab.netnsInode(B));
    }
    const all = dt.json().filter((r) => r.event?.kind === 'event');
    expect(all.filter((r) => r.destination?.port === 40612 || r.source?.port === 41612)).toEqual([]);
    // Whatever else the host dropped meanwhile: every event is on port 40611.
    for (const r of all) expect([r.source?.port, r.destination?.port]).toContain(40611);
  });
});

// ---------------------------------------------------------------------------

describe('hostile filter values are refused before bpftrace ever runs', () => {
  let dir: string;
  let fake: string;
  let log: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'droptrace-fake-bt-'));
    fake = join(dir, 'bpftrace');
    log = join(dir, 'invocations.log');
    // A stand-in bpftrace that records every invocation (one argv per line,
    // arguments NUL-separated) and answers the capability probes like 0.17.
    writeFileSync(fake, `#!/bin/sh
for a in "$@"; do printf '%s\\0' "$a"; done >> '${log}'
printf '\\n' >> '${log}'
case "$1" in
  --version) echo "bpftrace v0.17.0" ;;
  --info) echo "kprobe: yes" ;;
esac
exit 0
`);
    chmodSync(fake, 0o755);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const invocations = (): string[][] =>
    existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\0').filter((a) => a !== '')) : [];

  // Syntactically invalid: rejected while parsing the options, before
  // capability detection, so the fake bpftrace is not run at all.
  const SYNTAX: Array<[flag: string, value: string]> = [
    ['filter-host', "10.0.0.1'; rm -rf /tmp/x; '"],
    ['filter-host', '$(touch /tmp/droptrace-pwned)'],
    ['filter-host', '`id`'],
    ['filter-host', '10.0.0.0/33'],
    ['filter-host', '10.0.0.0/8/8'],
    ['filter-host', '999.1.1.1'],
    ['filter-host', '::1/129'],
    ['filter-host', '10.0.0.1\n--unsafe'],
    ['filter-host', '10.0.0.1\u202e8/0.01'],
    ['filter-host', 'a'.repeat(10_000)],
    ['filter-port', '70000'],
    ['filter-port', '-1'],
    ['filter-port', '0'],
    ['filter-port', '80-20'],
    ['filter-port', '80; system("id")'],
    ['filter-port', '${PORT}'],
    ['filter-port', '0x50'],
    ['filter-port', '\uff18\uff10'], // fullwidth "80"
    ['filter-port', '1'.repeat(5000)],
    ['filter-port', ''],
    ['filter-port', '80,,443'],
    ['filter-proto', 'tcp || 1'],
    ['filter-proto', '256'],
    ['filter-proto', '{ printf("x") }'],
    ['filter-proto', '-x'],
    ['filter-iface', 'eth0/../x'],
    ['filter-iface', 'a/b'],
    ['filter-iface', 'e\x1b[31m0'],
    ['filter-iface', 'toolonginterface0'],
    ['filter-iface', '0'],
    ['filter-iface', 'lo\x7f'],
    ['filter-netns', '-4026531840'],
    ['filter-netns', 'net:[abc]'],
    ['filter-netns', '99999999999'],
    ['filter-netns', '4026531840)'],
    ['filter-reason', 'NETFILTER_DROP"}'],
    ['filter-reason', '\\0'],
    ['filter-reason', '%00'],
    ['filter-reason', '\u2400'],
    ['exclude-reason', 'NOT_SPECIFIED; exit'],
    ['exclude-reason', '--unsafe'],
    ['exclude-reason', 'NO\u200bSOCKET'],
  ];

  it(`${SYNTAX.length} syntactically hostile values across every filter: exit 2, message names the option, bpftrace never executed`, async () => {
    expect(SYNTAX.length).toBeGreaterThanOrEqual(20);
    const flags = new Set(SYNTAX.map(([f]) => f));
    expect([...flags].sort()).toEqual(['exclude-reason', 'filter-host', 'filter-iface', 'filter-netns', 'filter-port', 'filter-proto', 'filter-reason']);
    const queue = [...SYNTAX];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const [flag, value] = item;
        // `--flag=value`, so a value that starts with '-' reaches the validator as a value.
        const r = await runDroptrace(['tail', '--json', `--${flag}=${value}`, '--bpftrace', fake]);
        expectCleanError(r, 2, `--${flag}`);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    expect(invocations()).toEqual([]);
  });

  it('the option given without a value, or followed by an option-looking word, is a usage error naming it (tail, top, run)', async () => {
    const cases: string[][] = [
      ['tail', '--filter-port'],
      ['tail', '--filter-host', '--json'],
      ['tail', '--filter-proto', '-x'],
      ['top', '--filter-reason'],
      ['run', '--filter-port'],
      ['run', '--json', '--exclude-reason'],
    ];
    for (const c of cases) {
      const r = await runDroptrace([...c, '--bpftrace', fake]);
      const flag = c.find((a) => a.startsWith('--filter') || a.startsWith('--exclude'))!.slice(2);
      expectCleanError(r, 2, flag);
    }
    // The same filter validation is shared by run and top.
    for (const cmd of ['run', 'top']) {
      expectCleanError(await runDroptrace([cmd, '--filter-port=70000', '--bpftrace', fake]), 2, '--filter-port');
      expectCleanError(await runDroptrace([cmd, '--filter-host=$(id)', '--bpftrace', fake]), 2, '--filter-host');
    }
    expect(invocations()).toEqual([]);
  });

  it('well-formed names this host does not have (reasons, interface): exit 2, and bpftrace is never given a program', async () => {
    // Reason names and interface names can only be checked against the
    // running kernel, i.e. after capability detection, which runs
    // `bpftrace --version` and `--info`. No program may be started.
    const cases: Array<[string, string]> = [
      ['filter-reason', 'NO_SUCH_REASON'],
      ['exclude-reason', 'DEFINITELY_NOT_A_REASON'],
      ['filter-reason', 'SKB_DROP_REASON_NOPE'],
      ['filter-iface', 'nosuchif0'],
    ];
    for (const [flag, value] of cases) {
      const r = await runDroptrace(['tail', `--${flag}`, value, '--bpftrace', fake]);
      // A warning about a degraded signal may precede the error line.
      const rest = { ...r, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('droptrace: warning: ')).join('\n') };
      expectCleanError(rest, 2, `--${flag}`);
      expect(r.stderr).toContain(value.replace(/^SKB_DROP_REASON_/, ''));
    }
    const calls = invocations();
    expect(calls.length).toBeGreaterThan(0);
    for (const argv of calls) {
      expect(argv.length).toBe(1);
      expect(['--version', '--info']).toContain(argv[0]);
    }
  });
});

// ---------------------------------------------------------------------------

describe('bpftrace killed with SIGKILL mid-run', () => {
  const lab = new Lab();
  let A: string, B: string;
  let dt: Running;

  beforeAll(async () => {
    ({ A, B } = lab.hosts('10.213.1', 'k', 'udp dport 40621 counter drop comment "in-drop";'));
    dt = startDroptrace(['tail', '--json', '--filter-netns', String(lab.netnsInode(B))]);
  });

  afterAll(async () => {
    await dt?.stop();
    dt?.cleanup();
    lab.cleanup();
  });

  it('is restarted: a gap record, the ready file rewritten with restarts=1 and a new pid, and drops after the restart are reported', async () => {
    const first = await dt.ready();
    expect(first.restarts).toBe(0);
    const oldPid: number = first.bpftracePid;
    expect(oldPid).toBeGreaterThan(0);
    expect(readFileSync(`/proc/${oldPid}/cmdline`, 'utf8')).toContain('bpftrace');

    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.213.1.2', '40621', '3', '41621']);
    await waitFor('3 drops before the kill', () => dropsTo(dt, 40621).length >= 3);

    const killedAt = Date.now();
    process.kill(oldPid, 'SIGKILL');
    const again = await waitFor('ready file with restarts=1', () => {
      try {
        const r = JSON.parse(readFileSync(dt.readyFile, 'utf8'));
        return r.restarts === 1 && r;
      } catch {
        return undefined; // replaced atomically, but be lenient
      }
    }, 30_000);
    expect(again.pid).toBe(first.pid);
    expect(again.bpftracePid).not.toBe(oldPid);
    expect(existsSync(`/proc/${oldPid}`)).toBe(false);
    expect(readFileSync(`/proc/${again.bpftracePid}/cmdline`, 'utf8')).toContain('bpftrace');
    expect(again.signals).toEqual(first.signals);
    expect(dt.child.exitCode).toBeNull();

    const gaps = await waitFor('a tracer-gap record', () => { const g = dt.json().filter((r) => r.event?.action === 'tracer-gap'); return g.length > 0 && g; });
    expect(gaps).toHaveLength(1);
    const gap = gaps[0];
    expect(gap.event).toMatchObject({ kind: 'metric', action: 'tracer-gap', dataset: 'droptrace.drops' });
    expect(gap.droptrace.gap.restarts).toBe(1);
    expect(gap.droptrace.gap.cause).toMatch(/killed by SIGKILL/);
    const start = Date.parse(gap.droptrace.gap.start);
    const end = Date.parse(gap.droptrace.gap.end);
    expect(start).toBeGreaterThanOrEqual(killedAt - 1000);
    expect(end).toBeGreaterThanOrEqual(start);
    expect(gap.droptrace.gap.duration_ms).toBe(end - start);
    expect(end - killedAt).toBeLessThan(30_000);

    lab.exec(A, 'python3', ['-c', PY_UDP_SEND, '10.213.1.2', '40621', '4', '41622']);
    expect(lab.nftCounter(B, 'dtest', 'in-drop')).toBe(7);
    const after = await waitFor('4 drops after the restart', () => { const r = dropsTo(dt, 40621).filter((x) => x.source?.port === 41622); return r.length >= 4 && r; });
    await sleep(500);
    expect(dropsTo(dt, 40621).filter((x) => x.source?.port === 41622)).toHaveLength(4);
    expect(dropsTo(dt, 40621)).toHaveLength(7);
    for (const r of after) expect(Date.parse(r['@timestamp'])).toBeGreaterThanOrEqual(end - 1000);

    expect(await dt.stop()).toBe(0);
    expect(dt.stderr.join('\n')).toMatch(/, 1 restarts$/m);
  });
});

// ---------------------------------------------------------------------------

describe('a host that cannot trace: one clear error line, no stack trace', () => {
  let dir: string;
  const bt = bpftraceUnderTest();
  const withBt = bt ? ['--bpftrace', bt] : [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'droptrace-env-'));
    mkdirSync(join(dir, 'empty-tracefs'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('not root (uid/gid 65534): exit 3 for tail, run and probes-backed commands', async () => {
    // The checkout itself may be unreadable to uid 65534 (CI clones into a 0700 mktemp dir).
    const copy = worldReadableCli();
    try {
      for (const cmd of [['tail'], ['tail', '--json', '--filter-port', '53'], ['run', '--json']]) {
        const r = await runDroptrace([...cmd, ...withBt], { uid: 65534, gid: 65534, cli: copy.cli });
        expectCleanError(r, 3, /must run as root/);
      }
    } finally {
      copy.cleanup();
    }
  });

  it('bpftrace missing: --bpftrace /nonexistent and DROPTRACE_BPFTRACE=/nonexistent (tail, run, probes)', async () => {
    for (const cmd of ['tail', 'run', 'probes']) {
      expectCleanError(await runDroptrace([cmd, '--bpftrace', '/nonexistent']), 3, 'bpftrace not found at /nonexistent');
      expectCleanError(await runDroptrace([cmd], { env: { DROPTRACE_BPFTRACE: '/nonexistent' } }), 3, 'bpftrace not found at /nonexistent');
    }
    // A relative path or a directory that is not a private install.
    expectCleanError(await runDroptrace(['tail', '--bpftrace', 'bpftrace']), 3, /absolute path/);
    expectCleanError(await runDroptrace(['tail', '--bpftrace', dir]), 3, /droptrace-layout\.json/);
  });

  it('tracefs unavailable (DROPTRACE_TRACEFS pointing at an empty directory)', async () => {
    const env = { DROPTRACE_TRACEFS: join(dir, 'empty-tracefs') };
    for (const cmd of [['tail'], ['run', '--json']]) {
      const r = await runDroptrace([...cmd, ...withBt], { env });
      expectCleanError(r, 3, /tracefs is unavailable: .*empty-tracefs/);
    }
    // probes reports it instead of failing, and every signal is off.
    const p = await runDroptrace(['probes', '--json', ...withBt], { env });
    expect(p.code, p.stderr).toBe(0);
    const rep = JSON.parse(p.stdout);
    expect(rep.tracefs.path).toBeNull();
    expect(rep.tracefs.error).toContain('empty-tracefs');
    expect(rep.signals.find((s: any) => s.signal === 'drops').variant).toBe('unavailable');
  });
});

// ---------------------------------------------------------------------------

describe('droptrace probes --json', () => {
  const bt = bpftraceUnderTest();
  const withBt = bt ? ['--bpftrace', bt] : [];

  /** The version of the bpftrace under test, asked directly (not through droptrace). */
  function versionAskedDirectly(): string {
    let out: string;
    if (bt && statSync(bt).isDirectory()) {
      const layout = JSON.parse(readFileSync(join(bt, 'droptrace-layout.json'), 'utf8'));
      out = sh(layout.loader, ['--library-path', layout.libraryPath, layout.bpftrace, '--version']);
    } else {
      out = sh(bt ?? 'bpftrace', ['--version']);
    }
    const m = /v?(\d+\.\d+\.\d+)/.exec(out);
    if (!m) throw new Error(`no version in ${out}`);
    return m[1];
  }

  it('reports the bpftrace under test and each signal variant, and tail uses exactly those variants', async () => {
    const r = await runDroptrace(['probes', '--json', ...withBt]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    const version: string = rep.bpftrace.version;
    expect(version).toBe(versionAskedDirectly());
    // live-system pins the system bpftrace (/usr/bin/bpftrace, 0.17 on Debian 12), live-current the private 0.23 (a directory).
    expect(version).toMatch(bt && statSync(bt).isDirectory() ? /^0\.23\./ : /^0\.17\./);
    if (bt) expect(rep.bpftrace.path).toContain(bt);
    expect(rep.root).toBe(true);
    expect(rep.btf).toBe(true);
    expect(rep.tracefs.path).toMatch(/tracing$/);
    expect(rep.dropReasons.available).toBe(true);
    expect(rep.dropReasons.count).toBeGreaterThan(10);

    const variant = Object.fromEntries(rep.signals.map((s: any) => [s.signal, s.variant]));
    const CORE = ['drops', 'incoming-loss', 'loss-probes', 'retransmits', 'synack-retransmits'];
    for (const name of CORE) expect(Object.keys(variant)).toContain(name);
    const [maj, min] = version.split('.').map(Number);
    // Raw tracepoints from bpftrace 0.21 on (0.17 rejects them), for every tracepoint signal.
    const tp = maj > 0 || min >= 21 ? 'rawtracepoint' : 'tracepoint';
    for (const name of ['drops', 'retransmits', 'synack-retransmits', 'incoming-loss', 'flow-ends']) expect(variant[name], name).toBe(tp);
    expect(['fentry', 'kprobe', 'inferred']).toContain(variant['loss-probes']);
    for (const s of rep.signals) {
      expect(s.degraded).toBe(s.variant === 'inferred' || s.variant === 'unavailable');
      expect(typeof s.detail).toBe('string');
    }
    if (variant['loss-probes'] === 'fentry') expect(rep.bpftrace.fentry).toBe(true);
    if (variant['loss-probes'] === 'kprobe') expect(rep.bpftrace.kprobe).toBe(true);

    // The human table says the same.
    const t = await runDroptrace(['probes', ...withBt]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain(`v${version}`);
    expect(t.stdout).toMatch(new RegExp(`^drops\\s+${variant.drops}\\s+ok`, 'm'));

    // What tail actually attaches (from its ready file) is what probes reported.
    const dt = startDroptrace(['tail', '--json', '--filter-port', '40699']);
    try {
      const ready = await dt.ready();
      // Every attached signal uses the reported variant, and every core signal
      // probes called attachable is attached (tail may leave out signals that
      // only serve aggregation).
      for (const s of ready.signals) expect(s.variant, s.signal).toBe(variant[s.signal]);
      const core = CORE.filter((n) => variant[n] !== 'inferred' && variant[n] !== 'unavailable');
      expect(ready.signals.map((s: any) => s.signal).sort()).toEqual(expect.arrayContaining(core));
      expect(core).toContain('drops');
      await sleep(200);
      const note = dt.stderr.find((l) => l.startsWith('droptrace: tracing '));
      expect(note).toContain(`drops (${variant.drops})`);
    } finally {
      await dt.stop();
      dt.cleanup();
    }
  });
});

// Live (root): issue 10's hostile inputs against the real CLI — a tracer
// that prints garbage (a fake bpftrace: the kernel cannot be made to print
// it), two runs on one directory (the bpftrace under test), directories
// droptrace did not create, secrets from flag/env/file, config files that
// are not configs, and a full disk (a 1 MiB tmpfs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDroptrace, startDroptrace, type Running } from '../helpers/droptrace-process.js';

const root = mkdtempSync(join(tmpdir(), 'droptrace-harden-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'd') => join(root, `${name}${++n}`);

/** A fake bpftrace printing `lines` (a file we write) after the ready marker, then idling until killed. */
function fakeTracer(lines: string[] | Buffer): string {
  const out = fresh('lines');
  writeFileSync(out, Buffer.isBuffer(lines) ? lines : lines.join('\n') + '\n');
  const script = fresh('bpftrace');
  writeFileSync(script, `#!/bin/sh
case "$*" in *--version*) echo "bpftrace v0.23.0"; exit 0;; *--info*) echo "kprobe: yes"; exit 0;; esac
printf '{"t":"ready"}\\n'
cat '${out}'
exec sleep 60
`);
  chmodSync(script, 0o755);
  return script;
}

const Z32 = '0'.repeat(32);
const drop = (port: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ t: 'drop', ts: 1000, reason: 2, loc: '0xffffffff81000000', eth: 2048, len: 40, ifindex: 1, iif: 1, netns: 4026531840, dst_in: '0x0', l3: 4, l4: 17, s4: 16777343, d4: 16777343, s6: Z32, d6: Z32, sport: 5000, dport: port, tflags: 0, icmp_type: 0, icmp_code: 0, cpu: 0, ...extra });

const json = (out: string) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const finalStats = (out: string) => json(out).find((r) => r.event?.dataset === 'droptrace.stats' && r.droptrace.stats.final)?.droptrace.stats;
const NO_CRASH = /RangeError|TypeError|internal error|^\s+at /m;

describe('a tracer printing hostile lines (rows 1 and 10)', () => {
  it('the out-of-range flush of issue 10 and every other bad shape: counted as undecodable, one warning with a sample, the run goes on', async () => {
    const bad = [
      '{"t":"flush","from":2,"to":18446744073709551615,"ts":2000000000}',
      drop(70000),
      drop(1, { l3: 5 }),
      drop(1, { ts: 2 ** 64 }),
      '{"t":"drop"}',
      '{',
      'garbage \u001b[31m text',
      '@d0[1, 2]: count 1, average 1, total 1' + '9'.repeat(400),
      '{"t":"flush","from":9,"to":3,"ts":5}',
      // Plausible numbers, but windows far after its own timestamp: would be a date past year 275760.
      '{"t":"flush","from":1099511627000,"to":1099511627001,"ts":5}',
    ];
    const script = fakeTracer([drop(1001), ...bad.slice(0, 5), '{"t":"flush-end"}', drop(1002), ...bad.slice(5), drop(1003)]);
    const r = await runDroptrace(['run', '--bpftrace', script, '--json', '--interval', '1', '--duration', '3']);
    expect(r.stderr).not.toMatch(NO_CRASH);
    expect(r.code, r.stderr).toBe(0);
    const recs = json(r.stdout);
    expect(recs.filter((x) => x.event?.action === 'packet-dropped').map((x) => x.destination.port)).toEqual([1001, 1002, 1003]);
    const s = finalStats(r.stdout);
    expect(s.undecodable).toBe(bad.length);
    expect(s.overlong_lines).toBe(0);
    // One line with the first sample, then one summary (at the end here: under a minute).
    const warn = r.stderr.split('\n').filter((l) => l.includes('skipping undecodable bpftrace output'));
    expect(warn, r.stderr).toHaveLength(2);
    expect(warn[0]).toContain('(flush field to is out of range), e.g. {"t":"flush","from":2,"to":18446744073709551615');
    expect(warn[1]).toMatch(new RegExp(`\\(repeated ${bad.length - 1} times in the last \\d+ s\\)$`));
    // The escape sequence in the sample is shown escaped, never raw.
    expect(r.stderr).not.toContain('\u001b');
  });

  it('a 2 MiB line is cut, counted (undecodable and overlong) and warned about; the next line still counts', async () => {
    const script = fakeTracer(Buffer.from([drop(2001), 'x'.repeat(2 << 20), drop(2002)].join('\n') + '\n'));
    const r = await runDroptrace(['run', '--bpftrace', script, '--json', '--interval', '1', '--duration', '3']);
    expect(r.stderr).not.toMatch(NO_CRASH);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout).filter((x) => x.event?.action === 'packet-dropped').map((x) => x.destination.port)).toEqual([2001, 2002]);
    const s = finalStats(r.stdout);
    expect(s).toMatchObject({ undecodable: 1, overlong_lines: 1 });
    expect(r.stderr).toMatch(/skipped a bpftrace output line longer than \d+ bytes \(cut at the line limit, counted as undecodable\)/);
  });
});

describe('one writer per directory (row 6)', () => {
  let first: Running;
  const out = fresh('out');
  const spool = fresh('spool');
  beforeAll(async () => {
    // Elasticsearch at a closed port: the sink starts in outage mode, spooling.
    first = startDroptrace(['run', '--interval', '1', '--output-dir', out, '--es-url', 'http://127.0.0.1:1', '--es-spool-dir', spool]);
    await first.ready();
  });
  afterAll(async () => {
    await first?.stop();
    first?.cleanup();
  });

  it('a second run on the same --output-dir is refused, naming the holder pid; the first keeps writing alone', async () => {
    const r = await runDroptrace(['run', '--interval', '1', '--duration', '3', '--output-dir', out]);
    expect(r.code).toBe(6);
    expect(r.stderr).toBe(`droptrace: error: ${out} is in use by droptrace pid ${first.child.pid} (run --output-dir): one writer per directory\n  hint: Stop that instance (kill -TERM ${first.child.pid}) or give this one another directory.\n`);
  });

  it('so is one on the same --es-spool-dir with another output dir', async () => {
    const r = await runDroptrace(['run', '--duration', '3', '--output-dir', fresh('out'), '--es-url', 'http://127.0.0.1:1', '--es-spool-dir', spool]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`${spool} is in use by droptrace pid ${first.child.pid} (run --es-spool-dir)`);
  });

  it('the lock is a real flock(2): util-linux flock(1) cannot take it while the first run holds it', () => {
    const st = (f: string) => execFileSync('sh', ['-c', 'flock -n -E 1 "$0" true; echo $?', f], { encoding: 'utf8' }).trim();
    expect(st(join(out, '.droptrace.lock'))).toBe('1');
    expect(st(join(spool, '.droptrace.lock'))).toBe('1');
  });

  it('after the first run stops, a second one gets the directory', async () => {
    await first.stop();
    const r = await runDroptrace(['run', '--interval', '1', '--duration', '1', '--output-dir', out]);
    expect(r.stderr).not.toContain('in use by');
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('directories droptrace did not create (row 7)', () => {
  it('an existing 1777 directory is refused with reason and fix, and its mode is left alone', async () => {
    const d = fresh();
    mkdirSync(d);
    chmodSync(d, 0o1777);
    const r = await runDroptrace(['run', '--duration', '1', '--output-dir', d]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`output directory ${d} is world-writable (mode 01777)`);
    expect(r.stderr).toMatch(/hint: Use a dedicated directory: chmod o-w/);
    expect(statSync(d).mode & 0o7777).toBe(0o1777);
    expect(readdirSync(d)).toEqual([]);
  });

  it('a spool directory owned by another user is refused, unchanged', async () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, 65534, 65534);
    const r = await runDroptrace(['run', '--duration', '1', '--es-url', 'http://127.0.0.1:1', '--es-spool-dir', d]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`spool directory ${d} is owned by uid 65534, not by this process (uid 0)`);
    expect(statSync(d).uid).toBe(65534);
    expect(statSync(d).mode & 0o777).toBe(0o700);
  });

  it('a root-owned 0755 directory (StateDirectory=, hostPath) is used as it is; our files in it are 0600', async () => {
    const d = fresh();
    mkdirSync(d);
    chmodSync(d, 0o755);
    const r = await runDroptrace(['run', '--bpftrace', fakeTracer([drop(3001)]), '--interval', '1', '--duration', '2', '--output-dir', d]);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(d).mode & 0o7777).toBe(0o755);
    const files = readdirSync(d);
    expect(files).toEqual(expect.arrayContaining(['events.ndjson', 'flows.ndjson', 'stats.ndjson', '.droptrace.lock']));
    for (const f of files) expect(statSync(join(d, f)).mode & 0o777, f).toBe(0o600);
    expect(readFileSync(join(d, 'events.ndjson'), 'utf8')).toContain('"port":3001');
  });

  it('a planted lock file owned by someone else is refused, not used', async () => {
    const d = fresh();
    mkdirSync(d, { mode: 0o700 });
    writeFileSync(join(d, '.droptrace.lock'), '');
    chownSync(join(d, '.droptrace.lock'), 65534, 65534);
    const r = await runDroptrace(['run', '--duration', '1', '--output-dir', d]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`lock file ${d}/.droptrace.lock is owned by uid 65534, not by this process (uid 0); refusing to use it`);
  });
});

describe('secrets are never printed (row 8)', () => {
  const PW = 's3cr3t-PW-xyz';
  const pwFile = fresh('pw');
  beforeAll(() => writeFileSync(pwFile, PW + '\n', { mode: 0o600 }));

  it.each([
    ['flag', ['--es-url', `http://u:${PW}@127.0.0.1:1`], {}],
    ['env', [], { DROPTRACE_ES_URL: `http://u:${PW}@127.0.0.1:1` }],
    ['config file', ['--config', 'CFG'], {}],
    ['password from env (server unreachable)', ['--es-url', 'http://127.0.0.1:1', '--es-username', 'elastic'], { DROPTRACE_ES_PASSWORD: PW }],
    ['password file', ['--es-url', 'http://127.0.0.1:1', '--es-username', 'elastic', '--es-password-file', 'PWFILE'], {}],
    ['api key from env', ['--es-url', 'http://127.0.0.1:1'], { DROPTRACE_ES_API_KEY: PW }],
  ] as const)('%s', async (_how, args, env) => {
    const cfg = fresh('c') + '.yaml';
    writeFileSync(cfg, `es-url: "https://u:${PW}@127.0.0.1:1"\n`);
    const argv = (args as readonly string[]).map((a) => (a === 'CFG' ? cfg : a === 'PWFILE' ? pwFile : a));
    const r = await runDroptrace(['run', '--bpftrace', fakeTracer([]), '--duration', '2', '--es-spool-dir', fresh('spool'), ...argv], { env: env as Record<string, string> });
    expect(r.stdout + r.stderr).not.toContain(PW);
    expect(r.stdout + r.stderr).not.toContain(Buffer.from(PW).toString('base64'));
    expect(r.stderr).not.toMatch(NO_CRASH);
  });
});

describe('config files that are not configs (rows 4 and 5)', () => {
  it('/dev/zero and a FIFO fail at once with a clear error', async () => {
    const fifo = fresh('fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [path, kind] of [['/dev/zero', 'a character device'], [fifo, 'a FIFO']]) {
      const t0 = Date.now();
      const r = await runDroptrace(['run', '--config', path, '--duration', '1'], { timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`droptrace: error: config file ${path} is ${kind}, not a regular file`);
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });

  it('a symlink to a shadow-like file: no line of it is echoed', async () => {
    const shadow = fresh('shadow');
    writeFileSync(shadow, 'root:$y$j9T$TOPSECRETHASH:19000:0:99999:7:::\nbob:$y$j9T$OTHERHASH:19000:0:99999:7:::\n');
    const link = fresh('cfg') + '.yaml';
    execFileSync('ln', ['-s', shadow, link]);
    const r = await runDroptrace(['run', '--config', link, '--duration', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/TOPSECRET|OTHERHASH|root|bob/);
    expect(r.stderr).toContain('is it the right file?');
  });
});

describe('a full output disk (row 11)', () => {
  const mnt = fresh('tmpfs');
  beforeAll(() => {
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt]);
  });
  afterAll(() => {
    if (existsSync(mnt)) execFileSync('umount', ['-l', mnt]);
  });

  it('ENOSPC for seconds: one log line per stream, then a "repeated N times" summary; drops counted; no torn line', async () => {
    // ~6.6 MB of events: the 1 MiB disk fills after a few batches.
    const lines = Array.from({ length: 20_000 }, (_, i) => drop(10_000 + (i % 50_000)));
    const out = join(mnt, 'out');
    const r = await runDroptrace(['run', '--bpftrace', fakeTracer(lines), '--json', '--interval', '1', '--duration', '4', '--output-dir', out], { timeoutMs: 60_000 });
    expect(r.stderr).not.toMatch(NO_CRASH);
    expect(r.code, r.stderr).toBe(0);
    const enospc = r.stderr.split('\n').filter((l) => l.includes('ENOSPC'));
    // Without the limiter this was one line per failed batch (hundreds).
    expect(enospc.length, r.stderr).toBeGreaterThanOrEqual(1);
    expect(enospc.length, r.stderr).toBeLessThanOrEqual(6);
    expect(enospc.some((l) => /\(repeated \d+ times? in the last \d+ s\)$/.test(l)), r.stderr).toBe(true);
    const s = finalStats(r.stdout);
    const files = s.sinks.files;
    expect(files.dropped).toBeGreaterThan(0);
    expect(files.records).toBeGreaterThan(0);
    // Every record handed to the files is written or dropped (the final stats record itself is still in flight).
    expect(files.records + files.dropped).toBeLessThanOrEqual(s.records_out);
    expect(files.records + files.dropped).toBeGreaterThanOrEqual(20_000);
    expect(s.log_lines_suppressed).toBeGreaterThan(0);
    // What is on disk is whole lines only, as many as counted written.
    let onDisk = 0;
    for (const f of readdirSync(out).filter((x) => x.endsWith('.ndjson'))) {
      const text = readFileSync(join(out, f), 'utf8');
      if (text) expect(text.endsWith('\n'), f).toBe(true);
      for (const l of text.split('\n').filter(Boolean)) {
        JSON.parse(l);
        onDisk++;
      }
    }
    expect(onDisk).toBeGreaterThanOrEqual(files.records);
    expect(onDisk).toBeLessThanOrEqual(files.records + 1);
  });
});

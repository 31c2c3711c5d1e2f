// The soak behind scripts/soak (read its header). Everything it starts is
// its own: two namespaces with a unique prefix, an Elasticsearch node in its
// own directory, a tmpfs, traffic generators killed by process group.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { toBulkItem } from '../dist/sinks/elasticsearch/routing.js';

const REPO = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SECONDS = Number(opt('--seconds') ?? 600);
const BPFTRACE = opt('--bpftrace');
const KEEP = args.includes('--keep');
if (!(SECONDS >= 60)) throw new Error('--seconds must be at least 60');

const NS = 'soak';
const INTERVAL = 5;
const PATH_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
const run = promisify(execFile);
const sh = (cmd, a, input) => execFileSync(cmd, a, { encoding: 'utf8', env: PATH_ENV, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
const say = (m) => process.stderr.write(`soak ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'droptrace-soak-'));
const prefix = `dts${process.pid % 10000}`;
const A = `${prefix}A`;
const B = `${prefix}B`;
const NET = `10.251.${process.pid % 250}`;
const BIP = `${NET}.2`;
const esDir = `/var/lib/droptrace/elasticsearch/soak-${process.pid}`;
const disk = join(work, 'disk');
const out = join(disk, 'out');
const spool = join(work, 'spool');
const groups = [];
let droptrace = null;
let esStarted = false;

// --- cleanup (also on Ctrl-C) ------------------------------------------------
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  if (droptrace && droptrace.exitCode === null) {
    try {
      process.kill(-droptrace.pid, 'SIGKILL');
    } catch {}
  }
  if (esStarted) await run(join(REPO, 'scripts/elasticsearch'), ['stop', '--dir', esDir, '--kill']).catch(() => undefined);
  rmSync(esDir, { recursive: true, force: true });
  for (const ns of [A, B]) {
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {}
  }
  try {
    sh('umount', ['-l', disk]);
  } catch {}
  if (!KEEP) rmSync(work, { recursive: true, force: true });
  else say(`kept ${work}`);
}
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => cleanup().then(() => process.exit(143)));

// --- the lab -----------------------------------------------------------------
function lab() {
  for (const ns of [A, B]) {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  sh('ip', ['link', 'add', `${prefix}a`, 'netns', A, 'type', 'veth', 'peer', 'name', `${prefix}b`, 'netns', B]);
  sh('ip', ['-n', A, 'addr', 'add', `${NET}.1/24`, 'dev', `${prefix}a`]);
  sh('ip', ['-n', B, 'addr', 'add', `${NET}.2/24`, 'dev', `${prefix}b`]);
  sh('ip', ['-n', A, 'link', 'set', `${prefix}a`, 'up']);
  sh('ip', ['-n', B, 'link', 'set', `${prefix}b`, 'up']);
  sh('ip', ['netns', 'exec', B, 'nft', '-f', '-'], `table inet soak {
  chain c_in { type filter hook input priority 0;
    udp dport 41001 counter drop comment "soak-udp";
    tcp dport 41002 numgen random mod 20 0 counter drop comment "soak-tcp";
    icmp type echo-request numgen random mod 4 0 counter drop comment "soak-icmp";
  }
}
`);
}

function nftCounter(comment) {
  const j = JSON.parse(sh('ip', ['netns', 'exec', B, 'nft', '-j', 'list', 'table', 'inet', 'soak']));
  for (const it of j.nftables) if (it.rule?.comment === comment) for (const e of it.rule.expr) if (e.counter) return Number(e.counter.packets);
  throw new Error(`no counter ${comment}`);
}

const PY = {
  udp: `
import socket, sys, time
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 40000 + int(sys.argv[4]) + i)); socks.append(s)
while True:
    for s in socks:
        try: s.sendto(b'droptrace-soak', (dst, port))
        except OSError: pass
        time.sleep(float(sys.argv[5]))
`,
  server: `
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
def h(c):
    try:
        while c.recv(65536): pass
    except OSError: pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=h, args=(c,), daemon=True).start()
`,
  client: `
import socket, sys, time
buf = b'x' * 16384
while True:
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
        end = time.time() + 2
        while time.time() < end:
            s.sendall(buf); time.sleep(0.004)
        s.close()
    except OSError: time.sleep(0.5)
    time.sleep(0.2)
`,
};

function gen(ns, cmd, a) {
  const c = spawn('ip', ['netns', 'exec', ns, cmd, ...a], { detached: true, stdio: 'ignore', env: PATH_ENV });
  groups.push(c.pid);
  return c;
}

// --- Elasticsearch -----------------------------------------------------------
async function esStart() {
  const r = await run(join(REPO, 'scripts/elasticsearch'), ['start', '--dir', esDir], { env: { ...process.env, CI: 'true' }, timeout: 600_000, maxBuffer: 16 << 20 });
  esStarted = true;
  return r.stdout.trim().split('\n').pop();
}
async function esStop(kill) {
  await run(join(REPO, 'scripts/elasticsearch'), ['stop', '--dir', esDir, ...(kill ? ['--kill'] : [])], { timeout: 120_000 });
}
async function esIds(url) {
  const post = async (path, body) => (await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  await fetch(`${url}/*droptrace*-${NS}/_refresh`, { method: 'POST' });
  const ids = new Map();
  let r = await post(`/*droptrace*-${NS}/_search?scroll=2m`, { size: 5000, _source: false, query: { match_all: {} } });
  while (r.hits?.hits?.length) {
    for (const h of r.hits.hits) ids.set(h._id, (ids.get(h._id) ?? 0) + 1);
    r = await post('/_search/scroll', { scroll: '2m', scroll_id: r._scroll_id });
  }
  return ids;
}

// --- the output disk ---------------------------------------------------------
/** Fill the tmpfs to the last byte; returns the filler's size. */
function fillDisk() {
  const f = join(disk, 'filler');
  const fd = openSync(f, 'w');
  let size = 0;
  for (const chunk of [1 << 20, 4096, 1]) {
    const buf = Buffer.alloc(chunk);
    for (;;) {
      try {
        writeSync(fd, buf);
        size += chunk;
      } catch (e) {
        if (e.code !== 'ENOSPC') throw e;
        break;
      }
    }
  }
  closeSync(fd);
  return size;
}

const lines = (file) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

async function main() {
  say(`work directory ${work}; ${SECONDS} s; namespaces ${A}/${B} (${NET}.0/24)`);
  lab();
  mkdirSync(disk);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', disk]);
  say('starting Elasticsearch');
  const url = await esStart();
  say(`Elasticsearch at ${url}`);

  gen(B, 'python3', ['-c', PY.server, BIP, '41002']);
  await sleep(500);
  const ready = join(work, 'ready');
  const stdout = openSync(join(work, 'stdout.ndjson'), 'w');
  const stderr = openSync(join(work, 'stderr.log'), 'w');
  droptrace = spawn(process.execPath, [
    join(REPO, 'bin/droptrace.js'), 'run', ...(BPFTRACE ? ['--bpftrace', BPFTRACE] : []),
    '--filter-host', `${NET}.0/24`, '--interval', String(INTERVAL), '--events', '--rate-limit', '20', '--stats-interval', '30',
    '--json', '--output-dir', out, '--file-max-bytes', '1MiB', '--file-keep', '100000',
    '--es-url', url, '--es-namespace', NS, '--es-spool-dir', spool, '--ready-file', ready,
  ], { cwd: REPO, detached: true, stdio: ['ignore', stdout, stderr], env: PATH_ENV });
  const exited = new Promise((r) => droptrace.on('close', (code, sig) => r(code ?? sig)));
  const t0 = Date.now();
  while (!existsSync(ready)) {
    if (droptrace.exitCode !== null) throw new Error(`droptrace exited before ready:\n${readFileSync(join(work, 'stderr.log'), 'utf8')}`);
    if (Date.now() - t0 > 120_000) throw new Error('droptrace not ready after 120 s');
    await sleep(100);
  }
  const { pid: dtPid } = JSON.parse(readFileSync(ready, 'utf8'));
  say(`droptrace ready (pid ${dtPid}); traffic on`);

  gen(A, 'python3', ['-c', PY.udp, BIP, '41001', '50', '0', '0.004']);
  gen(A, 'python3', ['-c', PY.udp, BIP, '41003', '5', '100', '0.05']);
  gen(A, 'python3', ['-c', PY.client, BIP, '41002']);
  gen(A, 'ping', ['-q', '-i', '0.2', BIP]);

  let rssMax = 0;
  const rss = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${dtPid}/status`, 'utf8'));
      if (m) rssMax = Math.max(rssMax, Number(m[1]));
    } catch {}
  }, 5000);

  const start = Date.now();
  const until = async (frac) => {
    const t = start + frac * SECONDS * 1000;
    while (Date.now() < t) await sleep(Math.min(1000, t - Date.now()));
  };
  const timeline = [];
  const mark = (what) => {
    timeline.push([Math.round((Date.now() - start) / 1000), what]);
    say(what);
  };

  await until(0.15);
  mark('Elasticsearch stopped (SIGTERM)');
  await esStop(false);
  await sleep(20_000);
  await esStart();
  mark('Elasticsearch up again');

  await until(0.45);
  const filled = fillDisk();
  mark(`output disk full (${filled} bytes of filler)`);
  await sleep(30_000);
  rmSync(join(disk, 'filler'));
  mark('output disk freed');

  await until(0.65);
  mark('Elasticsearch killed (SIGKILL)');
  await esStop(true);
  await sleep(20_000);
  await esStart();
  mark('Elasticsearch up again');

  await until(1);
  for (const pid of groups.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  mark('traffic off');
  await sleep(2 * INTERVAL * 1000 + 2000);
  // Let the spool drain into Elasticsearch before stopping.
  const spoolDeadline = Date.now() + 180_000;
  while (Date.now() < spoolDeadline && readdirSync(spool).some((f) => /^\d+\.ndjson$/.test(f))) await sleep(1000);
  const nftUdp = nftCounter('soak-udp');
  process.kill(dtPid, 'SIGTERM');
  const code = await exited;
  clearInterval(rss);
  mark(`droptrace stopped (exit ${code})`);

  // --- accounting ------------------------------------------------------------
  const produced = lines(join(work, 'stdout.ndjson')).map((l) => JSON.parse(l));
  const err = readFileSync(join(work, 'stderr.log'), 'utf8');
  const acctLine = /final accounting: (\{.*\})$/m.exec(err);
  if (!acctLine) throw new Error(`no final accounting line in droptrace's log:\n${err.slice(-2000)}`);
  const acct = JSON.parse(acctLine[1]);
  const ids = produced.map((r) => toBulkItem(r, NS).id);

  const fileIds = new Map();
  let fileLines = 0;
  for (const f of readdirSync(out).filter((x) => x.endsWith('.ndjson'))) {
    for (const l of lines(join(out, f))) {
      fileLines++;
      const id = JSON.parse(l).droptrace.id;
      fileIds.set(id, (fileIds.get(id) ?? 0) + 1);
    }
  }
  const seen = new Map();
  let inFiles = 0;
  for (const id of ids) {
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    if (n <= (fileIds.get(id) ?? 0)) inFiles++;
  }
  const es = acct.sinks.elasticsearch;
  const docs = await esIds(url);
  const inEs = ids.filter((id) => docs.has(id)).length;
  const files = acct.sinks.files;
  const esCounted = es.dropped_by_policy + es.dead_lettered + es.dead_letter_failed + es.spool_corrupt + es.spooled + es.pending;
  const flowsUdp = produced
    .filter((r) => r.event?.dataset === 'droptrace.flows' && r.event.action === 'packet-dropped' && r.destination?.ip === BIP && r.destination?.port === 41001)
    .reduce((a, r) => a + r.droptrace.count, 0);
  const overflowed = produced.filter((r) => r.droptrace?.overflow).reduce((a, r) => a + r.droptrace.count, 0);
  const final = produced.filter((r) => r.event?.dataset === 'droptrace.stats' && r.droptrace.stats?.final).at(-1)?.droptrace.stats ?? {};
  const enospcLines = err.split('\n').filter((l) => l.includes('ENOSPC')).length;
  const actions = {};
  for (const r of produced) if (r.event?.dataset === 'droptrace.flows') actions[r.event.action] = (actions[r.event.action] ?? 0) + (r.droptrace.count ?? 0);

  const N = produced.length;
  const unFiles = N - inFiles - files.dropped;
  const unEs = N - inEs - esCounted;
  const rows = [
    ['duration', `${SECONDS} s, windows of ${INTERVAL} s; events: ${timeline.map(([t, w]) => `${t} s ${w}`).join('; ')}`],
    ['records produced (stdout copy = records_out)', `${N} (records_out ${acct.records_out})`],
    ['files: found on disk / counted written', `${inFiles} / ${files.records} (${fileLines} lines in ${readdirSync(out).filter((x) => x.endsWith('.ndjson')).length} files, ${files.rotations} rotations)`],
    ['files: counted dropped (disk full) / write errors', `${files.dropped} / ${files.errors}`],
    ['files: unaccounted (produced − found − dropped)', String(unFiles)],
    ['elasticsearch: found in ES / acked + duplicate', `${inEs} / ${es.acked} + ${es.duplicate}`],
    ['elasticsearch: dead-lettered / dead_letter_failed / dropped by policy / spooled / pending', `${es.dead_lettered} / ${es.dead_letter_failed} / ${es.dropped_by_policy} / ${es.spooled} / ${es.pending}`],
    ['elasticsearch: outages / retries / spilled to spool / replayed', `${es.outages} / ${es.retries} / ${es.spilled} / ${es.replayed_in}`],
    ['elasticsearch: unaccounted (produced − found − counted)', String(unEs)],
    ['ENOSPC log lines (folded) / log lines suppressed in total', `${enospcLines} / ${final.log_lines_suppressed ?? '?'}`],
    ['kernel: nft "soak-udp" counter / droptrace flows to that port', `${nftUdp} / ${flowsUdp}${overflowed ? ` (+${overflowed} in overflow records)` : ''}`],
    ['flow counts by action', Object.entries(actions).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['undecodable / lost / bpftrace restarts / kernel-missed', `${final.undecodable} / ${final.lost} / ${final.restarts} / ${final.kernel_missed}`],
    ['collector peak RSS (sampled every 5 s)', `${(rssMax / 1024).toFixed(0)} MiB`],
    ['droptrace exit status', String(code)],
  ];
  const table = ['| soak | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  writeFileSync(join(work, 'summary.md'), table + '\n');
  process.stdout.write(table + '\n');
  const ok = unFiles === 0 && unEs === 0 && N === acct.records_out && nftUdp === flowsUdp && code === 0 && files.records === fileLines;
  say(ok ? 'every record accounted for' : 'FAILED: see the table');
  return ok;
}

main()
  .then(async (ok) => {
    await cleanup();
    process.exit(ok ? 0 : 1);
  })
  .catch(async (e) => {
    say(`error: ${e.stack ?? e}`);
    await cleanup();
    process.exit(2);
  });

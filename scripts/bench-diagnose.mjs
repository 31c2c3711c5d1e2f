#!/usr/bin/env node
// Diagnosis benchmarks (root; run by scripts/bench, or alone):
//   counters     CPU per second of `droptrace counters --interval 1` for 1, 10
//                and 100 namespaces, against reading the same counters with
//                `nstat` in a loop (ip netns exec NS nstat -asz, once a second)
//   attribution  one window's rule attribution with 10,000 nft rules, against
//                the bare `nft -j list ruleset` it needs
//   doctor       doctor's wall time from the end of its window to the report,
//                100 namespaces (10 dropping on a rule, 10 sending to closed
//                ports) against 2 namespaces
// Steady CPU is measured by difference: (CPU over D2 s − CPU over D1 s) / (D2 − D1),
// so start-up costs cancel. Ratios are within one run; the VM is shared.
import { execFileSync, spawnSync, spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPEATS, median, fmt, table } from './bench-lib.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(REPO, 'bin', 'droptrace.js');
const dist = (p) => import(join(REPO, 'dist', p));
const sh = (...a) => execFileSync(a[0], a.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
const PATH_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };


const tag = `bd${process.pid % 10000}`;
const made = [];
function namespaces(n, prefix) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const ns = `${tag}${prefix}${i}`;
    spawnSync('ip', ['netns', 'del', ns]);
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    sh('ip', '-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    made.push(ns);
    out.push(ns);
  }
  return out;
}
function cleanup() {
  for (const ns of made.splice(0)) spawnSync('ip', ['netns', 'del', ns]);
}
process.on('exit', cleanup);

/** Children CPU seconds (user+sys) of a shell command, from bash's `times`. */
function cpuOf(script, args) {
  const out = sh('bash', '-c', `${script}\ntimes`, 'bench', ...args).trim().split('\n');
  const [u, s] = out.at(-1).split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return Number(m[1]) * 60 + Number(m[2]);
  });
  return u + s;
}

function droptraceCounters(nss, seconds) {
  return cpuOf('"$1" "$2" counters --json --interval 1 --duration "$3" $4 >/dev/null', [process.execPath, CLI, String(seconds), nss.map((n) => `--netns ${n}`).join(' ')]);
}

function nstatLoop(nss, seconds) {
  return cpuOf('for t in $(seq "$1"); do for ns in $2; do ip netns exec "$ns" nstat -asz >/dev/null; done; sleep 1; done', [String(seconds), nss.join(' ')]);
}

async function benchCounters() {
  const D1 = 3;
  const D2 = 13;
  const rows = [];
  for (const n of [1, 10, 100]) {
    const nss = namespaces(n, `c${n}x`);
    const dt = [];
    const ns = [];
    for (let i = 0; i < Math.max(1, Math.min(REPEATS, 3)); i++) {
      dt.push((droptraceCounters(nss, D2) - droptraceCounters(nss, D1)) / (D2 - D1));
      ns.push((nstatLoop(nss, D2) - nstatLoop(nss, D1)) / (D2 - D1));
    }
    const a = median(dt) * 100;
    const b = median(ns) * 100;
    rows.push([`${n} namespace${n > 1 ? 's' : ''}`, fmt(a, 2), fmt(b, 2), fmt(a / b, 2), n === 100 ? (a <= 5 ? 'yes' : 'NO') : '']);
    cleanup();
  }
  table('counters: steady CPU, % of one core (interval 1 s; helpers and ethtool included)', ['namespaces', 'droptrace counters', 'nstat loop', 'ratio', '≤ 5 % at 100'], rows);
}

async function benchAttribution() {
  const { Tools } = await dist('diagnose/exec/tools.js');
  const { HelperAnchor } = await dist('diagnose/netns/anchor.js');
  const { snapshotRuleset, fillRuleText } = await dist('diagnose/netfilter/snapshot.js');
  const { attribute } = await dist('diagnose/netfilter/attribute.js');
  const [ns] = namespaces(1, 'a');
  const rules = Array.from({ length: 10_000 }, (_, i) => `    udp dport ${20000 + i} counter drop comment "r${i}"`).join('\n');
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: `table inet big {\n  chain c_in {\n    type filter hook input priority 0;\n${rules}\n  }\n}\n` });
  const tools = new Tools(PATH_ENV.PATH);
  const inode = Number(sh('stat', '-Lc', '%i', `/run/netns/${ns}`).trim());
  const a = new HelperAnchor({ inode, name: ns, self: false, handle: `/run/netns/${ns}` }, tools);
  await a.ready();
  const noop = () => undefined;
  const t = { bare: [], window: [] };
  const flows = Array.from({ length: 1000 }, (_, i) => ({ key: `f${i}`, path: 'local-in', count: 1, l3: 'ipv4', l4proto: 'udp', saddr: '10.0.0.1', daddr: '127.0.0.1', sport: 1000 + i, dport: 27345 }));
  let before = await snapshotRuleset(a, tools, noop);
  for (let i = 0; i < REPEATS; i++) {
    let t0 = process.hrtime.bigint();
    sh('ip', 'netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset');
    t.bare.push(Number(process.hrtime.bigint() - t0) / 1e6);
    // A drop on rule r7345 so one counter moves, then one window's work.
    spawnSync('ip', ['netns', 'exec', ns, 'python3', '-c', 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b"x", ("127.0.0.1", 27345)) for _ in range(10)]'], { env: PATH_ENV });
    t0 = process.hrtime.bigint();
    const after = await snapshotRuleset(a, tools, noop);
    const res = attribute(before.ruleset, after.ruleset, flows);
    await fillRuleText(a, tools, [...res.perFlow.values()].flatMap((x) => x.candidates.map((c) => c.rule).filter(Boolean)));
    t.window.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.perFlow.get('f0').candidates[0].rule.comment !== 'r7345') throw new Error('attribution named the wrong rule');
    before = after;
  }
  a.close();
  cleanup();
  const b = median(t.bare);
  const w = median(t.window);
  table(`Rule attribution, 10,000 nft rules, 1,000 traced flows (median of ${REPEATS}, ms)`, ['what', 'ms', 'ratio vs bare nft -j', '≤ 1 s'], [
    ['nft -j list ruleset (bare, one process)', fmt(b), '1.00', ''],
    ['snapshot + attribute + rule text (one window)', fmt(w), fmt(w / b, 2), w <= 1000 ? 'yes' : 'NO'],
  ]);
}

function doctorOnce(nss, inject) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'doctor', '--json', '--duration', '3', ...nss.flatMap((n) => ['--filter-netns', n])], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH } });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    const t = setTimeout(inject, 4000);
    c.on('close', () => {
      clearTimeout(t);
      const m = /report ready (\d+) ms after the window/.exec(err);
      if (m) resolve(Number(m[1]));
      else reject(new Error(err));
    });
  });
}

async function benchDoctor() {
  // 50 pairs: pair i is (2i, 2i+1); the first 5 drop on a rule, the next 5 send to a closed port.
  const nss = namespaces(100, 'd');
  for (let i = 0; i < 50; i++) {
    const [a, b] = [nss[2 * i], nss[2 * i + 1]];
    sh('ip', 'link', 'add', `${tag}v${i}a`, 'netns', a, 'type', 'veth', 'peer', 'name', `${tag}v${i}b`, 'netns', b);
    sh('ip', '-n', a, 'addr', 'add', `10.252.${i}.1/24`, 'dev', `${tag}v${i}a`);
    sh('ip', '-n', b, 'addr', 'add', `10.252.${i}.2/24`, 'dev', `${tag}v${i}b`);
    sh('ip', '-n', a, 'link', 'set', `${tag}v${i}a`, 'up');
    sh('ip', '-n', b, 'link', 'set', `${tag}v${i}b`, 'up');
    if (i < 5) execFileSync('ip', ['netns', 'exec', b, 'nft', '-f', '-'], { input: 'table inet b {\n  chain c_in {\n    type filter hook input priority 0;\n    udp dport 5000 counter drop comment "bench"\n  }\n}\n' });
  }
  const traffic = () => {
    for (let i = 0; i < 10; i++) spawn('ip', ['netns', 'exec', nss[2 * i], 'python3', '-c', 'import socket,time,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor _ in range(200):\n  s.sendto(b"x",(sys.argv[1],5000)); time.sleep(0.005)', `10.252.${i}.2`], { stdio: 'ignore', env: PATH_ENV });
  };
  const t = { two: [], hundred: [] };
  for (let r = 0; r < REPEATS; r++) {
    t.two.push(await doctorOnce(nss.slice(0, 2), traffic));
    t.hundred.push(await doctorOnce(nss, traffic));
  }
  cleanup();
  const a = median(t.two);
  const b = median(t.hundred);
  table(`doctor: window end → report (--duration 3, median of ${REPEATS}, ms; bpftrace stop, last counter sample, rule snapshots, config reads, rules)`, ['namespaces', 'ms', 'ratio vs 2', '≤ 1 s'], [
    ['2 (1 dropping pair)', fmt(a), '1.00', a <= 1000 ? 'yes' : 'NO'],
    ['100 (5 dropping on a rule, 5 to closed ports)', fmt(b), fmt(b / a, 2), b <= 1000 ? 'yes' : 'NO'],
  ]);
}

const want = new Set(process.argv.slice(2));
const all = want.size === 0;
if (all || want.has('counters')) await benchCounters();
if (all || want.has('attribution')) await benchAttribution();
if (all || want.has('doctor')) await benchDoctor();

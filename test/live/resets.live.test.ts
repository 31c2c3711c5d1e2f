// Live: TCP resets (probes/resets), counted in the kernel by `run` and
// streamed by `tail`, against each namespace's own counters. Client A, server
// B (IPv4 and IPv6 on one veth); three kinds of reset, in distinct numbers so
// a swap shows:
//   R refused connects: A → B:closed port. B answers with a reset from
//     tcp_v4/v6_send_reset (no socket: reason NO_SOCKET); A accepts it in SYN_SENT.
//   L zero-linger closes: A closes an established connection with SO_LINGER 0:
//     tcp_disconnect sends an active reset (reason TCP_STATE); B accepts it
//     in ESTABLISHED.
//   U closes with unread data: B wrote, A closes without reading: __tcp_close
//     sends an active reset (reason TCP_ABORT_ON_CLOSE); B accepts it.
// The kernel's counting rules (net/ipv4/tcp_ipv4.c, tcp_output.c, tcp.c,
// tcp_input.c of 6.18), and so which figure equals which traced set:
//   Tcp.OutRsts   = resets sent: tcp_v4_send_reset fires the tracepoint and
//                   counts it with nothing between (IPv6: counted after the
//                   route lookup, which succeeds here); tcp_send_active_reset
//                   counts it, then fires the tracepoint unless the skb
//                   allocation failed (TCPAbortFailed, asserted 0).
//   TCPAbortOnClose = sent with reason TCP_ABORT_ON_CLOSE (the same branch of __tcp_close).
//   TCPAbortOnData  = sent with reason TCP_STATE here (the zero-linger branch
//                   counts it after tcp_disconnect; other disconnects also
//                   send TCP_STATE, none happen in this test).
//   Tcp.AttemptFails = received in SYN_SENT (tcp_reset → tcp_done counts a
//                   SYN_SENT socket; SYN timeouts would too, none here).
//   Tcp.EstabResets  = B: received in ESTABLISHED (tcp_set_state counts every
//                   ESTABLISHED/CLOSE_WAIT → CLOSE; B never aborts or times
//                   out). On A it counts A's own aborts (L + U) instead.
// Traced ≤ kernel ≤ traced + the firings the kernel skipped for the signal
// (bpf recursion protection, counted; 0 in practice).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, nstat, nstatDelta, sh, spawnIn } from '../helpers/netns.js';
import { startDroptrace } from '../helpers/droptrace-process.js';
import { finalStats, expectNoSelfLoss, missedBy } from '../helpers/self-stats.js';

const A4 = '10.223.1.1';
const B4 = '10.223.1.2';
const A6 = 'fd00:223::1';
const B6 = 'fd00:223::2';
const CLOSED = 41700;
const P_LINGER = 41701;
const P_UNREAD = 41702;

/** B: two listeners; on P_UNREAD it writes 100 bytes to each connection; it never reads or closes. argv: ip4 ip6 pL pU */
const PY_SERVER = `
import socket, sys, select
socks = []
for fam, ip in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    for port in (int(sys.argv[3]), int(sys.argv[4])):
        s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port)); s.listen(512); socks.append(s)
print('listening', flush=True)
held = []
while True:
    for s in select.select(socks, [], [])[0]:
        c, _ = s.accept()
        if c.getsockname()[1] == int(sys.argv[4]):
            c.sendall(b'x' * 100)
        held.append(c)
`;

/** A: R refused connects (per family), L zero-linger closes, U closes with unread data (IPv4). argv: ip4 ip6 closed pL pU R L U */
const PY_CLIENT = `
import socket, sys, struct, select
ip4, ip6, closed, pl, pu, r, l, u = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
refused = 0
for ip in (ip4, ip6):
    for i in range(r):
        try:
            socket.create_connection((ip, closed), timeout=5)
        except ConnectionRefusedError:
            refused += 1
for i in range(l):
    s = socket.create_connection((ip4, pl), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    s.close()
for i in range(u):
    s = socket.create_connection((ip4, pu), timeout=5)
    # B's bytes have arrived (readable), and stay unread.
    if not select.select([s], [], [], 5)[0]:
        raise SystemExit('no data from B')
    s.close()
print('refused', refused, flush=True)
`;

const R = 15; // per family: 30 refused connects
const L = 20;
const U = 25;

const flowsOf = (rs: any[]) => rs.filter((r) => r.event?.dataset === 'droptrace.flows' && !r.droptrace.flow?.final);
const resetsOf = (rs: any[]) => rs.filter((r) => r.event?.action === 'tcp-reset-sent' || r.event?.action === 'tcp-reset-received');
const count = (rs: any[], f: (r: any) => boolean, n: (r: any) => number = (r) => r.droptrace.count) => rs.filter(f).reduce((s, r) => s + n(r), 0);

describe('TCP resets against each namespace\'s own counters', () => {
  const lab = new Lab();
  let A: string, B: string;
  let nsA: number, nsB: number;

  beforeAll(() => {
    A = lab.ns('A');
    B = lab.ns('B');
    const dev = `${lab.prefix}r`;
    lab.link(A, `${A4}/24`, B, `${B4}/24`, dev);
    lab.exec(A, 'ip', ['addr', 'add', `${A6}/64`, 'dev', `${dev}a`, 'nodad']);
    lab.exec(B, 'ip', ['addr', 'add', `${B6}/64`, 'dev', `${dev}b`, 'nodad']);
    nsA = lab.netnsInode(A);
    nsB = lab.netnsInode(B);
  });

  afterAll(() => lab.cleanup());

  /** B still holds an established connection on the test ports (a reset not yet processed). */
  function bEstablished(): boolean {
    const out = sh('ip', ['netns', 'exec', B, 'ss', '-Htan', 'state', 'established', `( sport = :${P_LINGER} or sport = :${P_UNREAD} )`]);
    return out.trim() !== '';
  }

  /** The traffic, under droptrace `args`; returns each namespace's counter deltas and droptrace's records. */
  async function traffic(args: string[]) {
    const dt = startDroptrace([...args, '--filter-netns', String(nsA), '--filter-netns', String(nsB)]);
    const server = spawnIn(B, 'python3', ['-c', PY_SERVER, B4, B6, String(P_LINGER), String(P_UNREAD)]);
    try {
      await dt.ready();
      await server.waitFor('listening');
      const a0 = nstat(A);
      const b0 = nstat(B);
      const client = await spawnIn(A, 'python3', ['-c', PY_CLIENT, B4, B6, String(CLOSED), String(P_LINGER), String(P_UNREAD), String(R), String(L), String(U)]).done;
      expect(client.code, client.err).toBe(0);
      expect(client.out).toContain(`refused ${2 * R}`);
      // Every reset A sent has been taken by B (its connections left ESTABLISHED).
      const t0 = Date.now();
      while (bEstablished()) {
        if (Date.now() - t0 > 10_000) throw new Error('B kept established connections for 10 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      const a = nstatDelta(a0, nstat(A));
      const b = nstatDelta(b0, nstat(B));
      expect(await dt.stop()).toBe(0);
      return { a, b, all: dt.json(), stderr: dt.stderr };
    } finally {
      server.kill();
      dt.cleanup();
    }
  }

  it('run: the in-kernel counts per namespace, direction and reason equal Tcp.OutRsts, TCPAbortOnClose, TCPAbortOnData, Tcp.AttemptFails and (B) Tcp.EstabResets', async () => {
    const { a, b, all } = await traffic(['run', '--json', '--interval', '1']);
    const stats = finalStats(all);
    expectNoSelfLoss(stats);
    const missed = missedBy(stats, 'resets');
    const flows = resetsOf(flowsOf(all));
    const of = (ns: number, action: string, reason?: string) => count(flows, (r) => r.droptrace.netns?.inode === ns && r.event.action === action && (reason === undefined || r.event.reason === reason));
    const detail = JSON.stringify({ a, b, traced: flows.map((r) => [r.droptrace.netns?.inode === nsA ? 'A' : 'B', r.event.action, r.event.reason, r.droptrace.count]), missed });
    const within = (kernel: number, traced: number) => {
      expect(kernel - traced, detail).toBeGreaterThanOrEqual(0);
      expect(kernel - traced, detail).toBeLessThanOrEqual(missed);
    };
    // What the traffic made, from the kernel's own figures (so the test can fail on either side).
    expect(a.TcpOutRsts, detail).toBe(L + U);
    expect(b.TcpOutRsts, detail).toBe(2 * R);
    expect(a.TcpExtTCPAbortFailed ?? 0, detail).toBe(0);
    // Sent.
    within(a.TcpOutRsts, of(nsA, 'tcp-reset-sent'));
    within(b.TcpOutRsts, of(nsB, 'tcp-reset-sent'));
    within(a.TcpExtTCPAbortOnClose, of(nsA, 'tcp-reset-sent', 'TCP_ABORT_ON_CLOSE'));
    within(a.TcpExtTCPAbortOnData, of(nsA, 'tcp-reset-sent', 'TCP_STATE'));
    within(b.TcpOutRsts, of(nsB, 'tcp-reset-sent', 'NO_SOCKET'));
    // Received.
    within(a.TcpAttemptFails, of(nsA, 'tcp-reset-received', 'SYN_SENT'));
    within(b.TcpEstabResets, of(nsB, 'tcp-reset-received', 'ESTABLISHED'));
    expect(of(nsB, 'tcp-reset-received'), detail).toBe(of(nsB, 'tcp-reset-received', 'ESTABLISHED'));
    expect(of(nsA, 'tcp-reset-received'), detail).toBe(of(nsA, 'tcp-reset-received', 'SYN_SENT'));
    // The resets' own endpoints: B's answers to A's refused connects go B:closed → A, per family.
    const refusals = flows.filter((r) => r.droptrace.netns?.inode === nsB && r.event.reason === 'NO_SOCKET');
    expect(new Set(refusals.map((r) => `${r.source.ip}:${r.source.port} > ${r.destination.ip} ${r.network.type} ${r.network.direction} ${r.droptrace.path}`)), detail)
      .toEqual(new Set([`${B4}:${CLOSED} > ${A4} ipv4 egress local-out`, `${B6}:${CLOSED} > ${A6} ipv6 egress local-out`]));
    // A's aborts: one reset per connection, from its own ephemeral port (read as the tracepoint does: the
    // closing socket has given its port back already) to B's listener; B took each on that connection.
    const aborts = flows.filter((x) => x.droptrace.netns?.inode === nsA && x.event.action === 'tcp-reset-sent');
    for (const r of aborts) {
      expect([r.source.ip, r.destination.ip, r.destination.port], detail).toEqual([A4, B4, r.event.reason === 'TCP_STATE' ? P_LINGER : P_UNREAD]);
      expect(r.source.port, detail).toBeGreaterThan(1023);
      expect(r.droptrace.tcp.state).toBe('CLOSE');
    }
    const conns = (rs: any[]) => new Set(rs.map((r) => [r.source.ip, r.source.port, r.destination.ip, r.destination.port].join(' ')));
    expect(conns(aborts).size, detail).toBe(L + U);
    const taken = flows.filter((x) => x.droptrace.netns?.inode === nsB && x.event.action === 'tcp-reset-received');
    for (const r of taken) expect([r.source.ip, r.destination.ip, r.network.direction, r.droptrace.path]).toEqual([A4, B4, 'ingress', 'local-in']);
    expect(conns(taken), detail).toEqual(conns(aborts));
  });

  it('tail: one event per reset, the same figures', async () => {
    const { a, b, all, stderr } = await traffic(['tail', '--json', '--filter-proto', 'tcp']);
    const events = resetsOf(all);
    const of = (ns: number, action: string, reason?: string) => count(events, (r) => r.droptrace.netns?.inode === ns && r.event.action === action && (reason === undefined || r.event.reason === reason), () => 1);
    const detail = JSON.stringify({ a, b, events: events.length, stderr: stderr.slice(-3) });
    // tail prints its own account at the end: nothing lost, undecodable or rate-limited here.
    expect(stderr.join('\n')).toMatch(/ 0 lost, /);
    expect(stderr.join('\n')).toMatch(/ 0 suppressed by --rate-limit, 0 undecodable/);
    const missed = Number(/(\d+) skipped by the kernel/.exec(stderr.join('\n'))?.[1] ?? NaN);
    const within = (kernel: number, traced: number) => {
      expect(kernel - traced, detail).toBeGreaterThanOrEqual(0);
      expect(kernel - traced, detail).toBeLessThanOrEqual(missed);
    };
    expect(a.TcpOutRsts, detail).toBe(L + U);
    within(a.TcpOutRsts, of(nsA, 'tcp-reset-sent'));
    within(b.TcpOutRsts, of(nsB, 'tcp-reset-sent', 'NO_SOCKET'));
    within(a.TcpExtTCPAbortOnClose, of(nsA, 'tcp-reset-sent', 'TCP_ABORT_ON_CLOSE'));
    within(a.TcpAttemptFails, of(nsA, 'tcp-reset-received', 'SYN_SENT'));
    within(b.TcpEstabResets, of(nsB, 'tcp-reset-received', 'ESTABLISHED'));
    // Per-event details: the reason code beside its name, the kernel's time.
    const e = events.find((r) => r.event.reason === 'NO_SOCKET')!;
    expect(e.droptrace.reset).toMatchObject({ direction: 'sent', reason: 'NO_SOCKET' });
    expect(typeof e.droptrace.reset.reason_code).toBe('number');
    expect(Date.parse(e['@timestamp'])).toBeGreaterThan(Date.now() - 120_000);
  });
});

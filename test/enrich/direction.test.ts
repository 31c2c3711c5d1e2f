import { describe, it, expect } from 'vitest';
import { PathClassifier, type PathFacts } from '../../src/enrich/direction.js';
import { KallsymsSymbolizer } from '../../src/enrich/kallsyms.js';

const SYMS = [
  'ffffffff81ff6530 T ip_local_deliver',
  'ffffffff81ff8090 T ip_forward',
  'ffffffff820d6b70 T ip6_forward',
  'ffffffff820d8c50 T ip6_input',
  'ffffffff820d9550 T ip6_mc_input',
  'ffffffff82085200 T ip_mr_input',
  'ffffffff82100000 T dst_discard',
  'ffffffff82200000 T end',
].join('\n');

/** The facts of a route-less-or-routed drop with no other evidence. */
const f = (iif: number, dst_in: string, more: Partial<PathFacts> = {}): PathFacts => ({ iif, dst_in, netns: 4026532246, ...more });

describe('PathClassifier', () => {
  const p = new PathClassifier(new KallsymsSymbolizer(SYMS));

  it('no input interface (skb_iif 0) → egress / local-out, whatever the route', () => {
    expect(p.classify(f(0, '0xffffffff81ff8090'))).toEqual({ direction: 'egress', path: 'local-out' });
    expect(p.classify(f(0, '0x0'))).toEqual({ direction: 'egress', path: 'local-out' });
  });

  it('route input ip_forward / ip6_forward → ingress / forward', () => {
    expect(p.classify(f(3, '0xffffffff81ff8090'))).toEqual({ direction: 'ingress', path: 'forward' });
    expect(p.classify(f(3, '0xffffffff820d6b70'))).toEqual({ direction: 'ingress', path: 'forward' });
  });

  it('route input ip_local_deliver / ip6_input / ip6_mc_input / ip_mr_input → ingress / local-in', () => {
    for (const a of ['0xffffffff81ff6530', '0xffffffff820d8c50', '0xffffffff820d9550', '0xffffffff82085200']) {
      expect(p.classify(f(7, a)), a).toEqual({ direction: 'ingress', path: 'local-in' });
    }
  });

  it('compares case-insensitively (the probe prints lowercase, but be safe)', () => {
    expect(p.classify(f(3, '0xFFFFFFFF81FF8090'))).toEqual({ direction: 'ingress', path: 'forward' });
  });

  it('no route yet or another input function → ingress / unknown', () => {
    expect(p.classify(f(3, '0x0'))).toEqual({ direction: 'ingress', path: 'unknown' });
    expect(p.classify(f(3, '0xffffffff82100000'))).toEqual({ direction: 'ingress', path: 'unknown' });
    // Inside ip_forward but not its entry: dst->input is always a function's start.
    expect(p.classify(f(3, '0xffffffff81ff8091'))).toEqual({ direction: 'ingress', path: 'unknown' });
  });

  it('with hidden kernel addresses, a missing route is never mistaken for forward or local-in', () => {
    const hidden = new PathClassifier(new KallsymsSymbolizer(SYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000')));
    expect(hidden.classify(f(3, '0x0'))).toEqual({ direction: 'ingress', path: 'unknown' });
    expect(hidden.classify(f(3, '0xffffffff81ff8090'))).toEqual({ direction: 'ingress', path: 'unknown' });
    expect(hidden.classify(f(0, '0x0'))).toEqual({ direction: 'egress', path: 'local-out' });
  });

  it('a kernel without some functions still classifies the others', () => {
    const partial = new PathClassifier(new KallsymsSymbolizer('ffffffff81ff8090 T ip_forward\nffffffff81ff9000 T x\n'));
    expect(partial.classify(f(2, '0xffffffff81ff8090')).path).toBe('forward');
    expect(partial.classify(f(2, '0xffffffff81ff6530')).path).toBe('unknown');
  });

  describe('no route attached (dst_in 0): the other evidence, strongest first', () => {
    const ours = new Set(['10.77.0.2', '10.77.0.255', 'fd00::2']);
    const lp = new PathClassifier(new KallsymsSymbolizer(SYMS), (ns, ip) => (ns === 4026532246 ? ours.has(ip) : undefined));

    it('a receiving socket had it (rx_sk / skb->sk): local-in (SOCKET_RCVBUFF, TCP_OLD_DATA)', () => {
      expect(lp.classify(f(3, '0x0', { local: 1, symbol: 'whatever' })).path).toBe('local-in');
    });
    it('dropped in the socket layer (kernels without rx_sk): local-in', () => {
      for (const s of ['udp_queue_rcv_one_skb', 'tcp_data_queue', '__udp4_lib_rcv', 'tcp_v4_rcv', 'raw_rcv', 'icmp_rcv', 'sk_filter_trim_cap']) {
        expect(lp.classify(f(3, '0x0', { symbol: s, dst: '192.0.2.9' })).path, s).toBe('local-in');
      }
      // GRO runs before routing; not the socket layer.
      expect(lp.classify(f(3, '0x0', { symbol: 'udp_gro_receive', dst: '192.0.2.9' })).path).toBe('forward');
    });
    it('before routing (rp_filter, prerouting conntrack): by the destination address', () => {
      expect(lp.classify(f(3, '0x0', { symbol: 'ip_rcv_finish_core', dst: '10.77.0.2' })).path).toBe('local-in');
      expect(lp.classify(f(3, '0x0', { symbol: 'nf_hook_slow', dst: '10.77.0.255' })).path).toBe('local-in');
      expect(lp.classify(f(3, '0x0', { symbol: 'nf_hook_slow', dst: 'fd00::2' })).path).toBe('local-in');
      expect(lp.classify(f(3, '0x0', { symbol: 'nf_hook_slow', dst: '198.51.100.7' })).path).toBe('forward');
      for (const m of ['224.0.0.251', '255.255.255.255', 'ff02::16', '127.0.0.1', '::1']) expect(lp.classify(f(3, '0x0', { dst: m })).path, m).toBe('local-in');
    });
    it('a namespace whose addresses cannot be listed stays unknown', () => {
      expect(lp.classify(f(3, '0x0', { netns: 1, symbol: 'nf_hook_slow', dst: '10.77.0.2' })).path).toBe('unknown');
      expect(p.classify(f(3, '0x0', { symbol: 'nf_hook_slow', dst: '10.77.0.2' })).path).toBe('unknown');
    });
    it('a route still wins over the other evidence', () => {
      expect(lp.classify(f(3, '0xffffffff81ff8090', { local: 1, dst: '10.77.0.2' })).path).toBe('forward');
    });
  });
});

import { describe, it, expect } from 'vitest';
import { PathClassifier } from '../../src/enrich/direction.js';
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

describe('PathClassifier', () => {
  const p = new PathClassifier(new KallsymsSymbolizer(SYMS));

  it('no input interface (skb_iif 0) → egress / local-out, whatever the route', () => {
    expect(p.classify(0, '0xffffffff81ff8090')).toEqual({ direction: 'egress', path: 'local-out' });
    expect(p.classify(0, '0x0')).toEqual({ direction: 'egress', path: 'local-out' });
  });

  it('route input ip_forward / ip6_forward → ingress / forward', () => {
    expect(p.classify(3, '0xffffffff81ff8090')).toEqual({ direction: 'ingress', path: 'forward' });
    expect(p.classify(3, '0xffffffff820d6b70')).toEqual({ direction: 'ingress', path: 'forward' });
  });

  it('route input ip_local_deliver / ip6_input / ip6_mc_input / ip_mr_input → ingress / local-in', () => {
    for (const a of ['0xffffffff81ff6530', '0xffffffff820d8c50', '0xffffffff820d9550', '0xffffffff82085200']) {
      expect(p.classify(7, a), a).toEqual({ direction: 'ingress', path: 'local-in' });
    }
  });

  it('compares case-insensitively (the probe prints lowercase, but be safe)', () => {
    expect(p.classify(3, '0xFFFFFFFF81FF8090')).toEqual({ direction: 'ingress', path: 'forward' });
  });

  it('no route yet or another input function → ingress / unknown', () => {
    expect(p.classify(3, '0x0')).toEqual({ direction: 'ingress', path: 'unknown' });
    expect(p.classify(3, '0xffffffff82100000')).toEqual({ direction: 'ingress', path: 'unknown' });
    // Inside ip_forward but not its entry: dst->input is always a function's start.
    expect(p.classify(3, '0xffffffff81ff8091')).toEqual({ direction: 'ingress', path: 'unknown' });
  });

  it('with hidden kernel addresses, a missing route is never mistaken for forward or local-in', () => {
    const hidden = new PathClassifier(new KallsymsSymbolizer(SYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000')));
    expect(hidden.classify(3, '0x0')).toEqual({ direction: 'ingress', path: 'unknown' });
    expect(hidden.classify(3, '0xffffffff81ff8090')).toEqual({ direction: 'ingress', path: 'unknown' });
    expect(hidden.classify(0, '0x0')).toEqual({ direction: 'egress', path: 'local-out' });
  });

  it('a kernel without some functions still classifies the others', () => {
    const partial = new PathClassifier(new KallsymsSymbolizer('ffffffff81ff8090 T ip_forward\nffffffff81ff9000 T x\n'));
    expect(partial.classify(2, '0xffffffff81ff8090').path).toBe('forward');
    expect(partial.classify(2, '0xffffffff81ff6530').path).toBe('unknown');
  });
});

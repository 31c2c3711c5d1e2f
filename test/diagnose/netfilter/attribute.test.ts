import { describe, it, expect } from 'vitest';
import { attribute, ruleDeltas, hooksFor, describeCandidate, type DropFlow } from '../../../src/diagnose/netfilter/attribute.js';
import { computeHooks, type NfRule, type Ruleset, type NfChain } from '../../../src/diagnose/netfilter/model.js';

function rule(handle: string, o: Partial<NfRule> = {}): NfRule {
  return { backend: 'nft', family: 'inet', table: 't', chain: 'in', handle, verdict: 'drop', targets: [], conds: [], hooks: [], packets: 0, ...o };
}
function rs(rules: NfRule[], chains: NfChain[] = [{ backend: 'nft', family: 'inet', table: 't', name: 'in', hook: 'input', policy: 'accept' }]): Ruleset {
  const r = { rules: rules.map((x) => ({ ...x })), chains };
  computeHooks(r);
  return r;
}
const flow = (o: Partial<DropFlow> = {}): DropFlow => ({ key: 'f1', path: 'local-in', count: 10, l3: 'ipv4', l4proto: 'udp', saddr: '10.0.0.1', daddr: '10.0.0.2', sport: 5000, dport: 53, ...o });
const dport = (p: number) => [{ field: 'dport' as const, negate: false, values: [{ eq: p }] }, { field: 'l4proto' as const, negate: false, values: [{ eq: 'udp' }] }];

describe('attribute', () => {
  it('one moved dropping rule on the path: named, high confidence; its delta and the traced count', () => {
    const before = rs([rule('1', { conds: dport(53) }), rule('2', { conds: dport(54) })]);
    const after = rs([rule('1', { conds: dport(53), packets: 10 }), rule('2', { conds: dport(54) })]);
    const a = attribute(before, after, [flow()]);
    expect(a.perFlow.get('f1')).toMatchObject({ kind: 'rule', confidence: 'high' });
    expect(a.perFlow.get('f1')!.candidates[0].rule!.handle).toBe('1');
    expect(a.deltas).toEqual([expect.objectContaining({ delta: 10, traced: 10 })]);
  });

  it('two moved rules: the one whose match fits the flow wins (medium); both fitting is ambiguous with candidates', () => {
    const b = rs([rule('1', { conds: dport(53) }), rule('2', { conds: [] })]);
    const a1 = attribute(b, rs([rule('1', { conds: dport(53), packets: 5 }), rule('2', { conds: [{ field: 'unknown', negate: false, values: [] }], packets: 5 })]), [flow()]);
    expect(a1.perFlow.get('f1')).toMatchObject({ kind: 'rule', confidence: 'medium' });
    expect(a1.perFlow.get('f1')!.candidates[0].rule!.handle).toBe('1');
    const a2 = attribute(b, rs([rule('1', { conds: [], packets: 5 }), rule('2', { conds: [], packets: 5 })]), [flow()]);
    expect(a2.perFlow.get('f1')!.kind).toBe('ambiguous');
    expect(a2.perFlow.get('f1')!.candidates.map((c) => c.rule!.handle).sort()).toEqual(['1', '2']);
  });

  it('a rule on another hook, an accept rule, a rule that cannot match: never blamed', () => {
    const chains: NfChain[] = [
      { backend: 'nft', family: 'inet', table: 't', name: 'in', hook: 'input', policy: 'accept' },
      { backend: 'nft', family: 'inet', table: 't', name: 'out', hook: 'output', policy: 'accept' },
    ];
    const b = rs([rule('1', { chain: 'out' }), rule('2', { verdict: 'accept' }), rule('3', { conds: dport(99) })], chains);
    const a = attribute(b, rs([rule('1', { chain: 'out', packets: 9 }), rule('2', { verdict: 'accept', packets: 9 }), rule('3', { conds: dport(99), packets: 9 })], chains), [flow()]);
    expect(a.perFlow.get('f1')!.kind).toBe('none');
  });

  it('no counter moved: the base chain\'s drop policy (nftables does not count it)', () => {
    const chains: NfChain[] = [{ backend: 'nft', family: 'inet', table: 't', name: 'in', hook: 'input', policy: 'drop' }];
    const a = attribute(rs([rule('1', { verdict: 'accept', conds: dport(22) })], chains), rs([rule('1', { verdict: 'accept', conds: dport(22) })], chains), [flow()]);
    expect(a.perFlow.get('f1')).toMatchObject({ kind: 'policy', confidence: 'medium' });
    expect(describeCandidate(a.perFlow.get('f1')!.candidates[0])).toBe('inet t in policy drop');
  });

  it('iptables-legacy counts its policy: a moved policy counter names it', () => {
    const chains = (n: number): NfChain[] => [{ backend: 'iptables-legacy', family: 'ip', table: 'filter', name: 'INPUT', hook: 'input', policy: 'drop', policyPackets: n }];
    const a = attribute(rs([], chains(3)), rs([], chains(13)), [flow()]);
    expect(a.perFlow.get('f1')).toMatchObject({ kind: 'policy', confidence: 'high' });
    expect(a.perFlow.get('f1')!.candidates[0].delta).toBe(10);
  });

  it('a dropping rule without a counter: ambiguous, listed as such (with how to add one, in the finding)', () => {
    const b = rs([rule('7', { packets: undefined, comment: 'no counter' })]);
    const a = attribute(b, b, [flow()]);
    expect(a.perFlow.get('f1')!.kind).toBe('ambiguous');
    expect(describeCandidate(a.perFlow.get('f1')!.candidates[0])).toBe('inet t in handle 7 "no counter" (no counter)');
  });

  it('ruleDeltas: a rule added during the window counts from zero; a reset counter counts from its current value', () => {
    const d = ruleDeltas(rs([rule('1', { packets: 100 })]), rs([rule('1', { packets: 4 }), rule('2', { packets: 6 })]));
    expect([...d.values()].map((x) => [x.rule.handle, x.delta])).toEqual([['1', 4], ['2', 6]]);
  });

  it('hooks per path', () => {
    expect([...hooksFor('local-out')].sort()).toEqual(['egress', 'output', 'postrouting']);
    expect(hooksFor('forward').has('forward')).toBe(true);
    expect(hooksFor('local-in').has('forward')).toBe(false);
  });

  it('10,000 rules, 1,000 flows: one pass (bounded by the moved rules, not the ruleset)', () => {
    const make = (moved: number) => rs(Array.from({ length: 10_000 }, (_, i) => rule(String(i + 1), { conds: dport(20000 + i), packets: i === 7345 ? moved : 0 })));
    const flows = Array.from({ length: 1000 }, (_, i) => flow({ key: `f${i}`, sport: 1000 + i, dport: 27345 }));
    const a = attribute(make(0), make(1000), flows);
    expect(a.perFlow.size).toBe(1000);
    for (const x of a.perFlow.values()) expect(x.candidates[0].rule!.handle).toBe('7346');
    expect(a.deltas[0].traced).toBe(10_000);
  });
});

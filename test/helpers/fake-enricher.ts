// A real Enricher over a small fake kallsyms, a fixed reason table and a fixed
// clock (no /proc, no tracefs): what aggregation and sink tests enrich with.
import { Enricher } from '../../src/enrich/enricher.js';
import { KallsymsSymbolizer } from '../../src/enrich/kallsyms.js';
import { ReasonTable } from '../../src/enrich/reasons.js';
import { MonotonicToWall, type Clock } from '../../src/enrich/clock.js';
import type { InterfaceResolver } from '../../src/enrich/interfaces.js';

export const SYMS = [
  'ffffffff81ff6530 T ip_local_deliver',
  'ffffffff81ff8090 T ip_forward',
  'ffffffff82046e00 T __udp4_lib_rcv',
  'ffffffff82047800 T udp_v4_early_demux',
  'ffffffff820d8c50 T ip6_input',
  'ffffffff820d9550 T ip6_mc_input',
  'ffffffff82200000 T ip_finish_output2',
  'ffffffff82200800 T next_func',
  'ffffffffc0a01000 t nft_do_chain\t[nf_tables]',
  'ffffffffc0a015a0 t nft_do_chain_ipv4\t[nf_tables]',
].join('\n');

export const ADDR = {
  ipLocalDeliver: 0xffffffff81ff6530n,
  ipForward: 0xffffffff81ff8090n,
  ip6Input: 0xffffffff820d8c50n,
  udpRcv: 0xffffffff82046f4cn, // __udp4_lib_rcv+0x14c
  nftDoChain: 0xffffffffc0a013c4n, // nft_do_chain+0x3c4 [nf_tables]
  output: 0xffffffff82200010n, // ip_finish_output2+0x10
};

export const REASONS = new ReasonTable(new Map([[2, 'NOT_SPECIFIED'], [3, 'NO_SOCKET'], [12, 'NETFILTER_DROP'], [77, 'TC_INGRESS']]));

/** Wall clock 2024-01-01T00:00:00.000Z when the monotonic clock reads 1 s: wall ms = WALL0 - 1000 + mono ms. */
export const WALL0 = Date.UTC(2024, 0, 1);
export const fixedClock: Clock = { wallMs: () => WALL0, monoNs: () => 1_000_000_000n };
export const monoToIso = (ns: bigint | number) => new Date(WALL0 - 1000 + Number(ns) / 1e6).toISOString();

export function fakeEnricher(opts: { hostName?: string; tlpObserved?: boolean; names?: Map<string, string>; kallsyms?: string } = {}): { enricher: Enricher; clock: MonotonicToWall } {
  const clock = new MonotonicToWall(fixedClock);
  const names = opts.names;
  const interfaces = names ? ({ nameOf: (netns: number, ifindex: number) => names.get(`${netns}:${ifindex}`) } as unknown as InterfaceResolver) : undefined;
  const enricher = new Enricher({
    symbols: new KallsymsSymbolizer(opts.kallsyms ?? SYMS),
    reasons: REASONS,
    interfaces,
    hostName: opts.hostName ?? 'node-1',
    clock,
    tlpObserved: opts.tlpObserved ?? false,
  });
  return { enricher, clock };
}

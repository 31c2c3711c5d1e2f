import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { KallsymsSymbolizer, formatLocation } from '../../src/enrich/kallsyms.js';

// Deliberately unsorted, with a module, data symbols, aliases and a weak symbol.
const KALLSYMS = [
  'ffffffffc0a01000 t nft_do_chain\t[nf_tables]',
  'ffffffff81000000 T _stext',
  'ffffffff81000000 T _text',
  'ffffffff81ff8090 T ip_forward',
  'ffffffff81ff6530 T ip_local_deliver',
  'ffffffff81ff6000 D some_data_table',
  'ffffffff81ff6100 d static_data',
  'ffffffff81ff6200 b bss_thing',
  'ffffffff81ff6300 R rodata_thing',
  'ffffffff81ff6400 W weak_func',
  'ffffffffc0a015a0 t nft_do_chain_ipv4\t[nf_tables]',
  'ffffffff81ff8a00 T __x64_sys_sync',
  'ffffffff81ff8a00 T __ia32_sys_sync',
  'ffffffff81ff8a00 T ksys_sync_alias',
  'ffffffff81ff9000 T last_core_func',
  'ffffffffc0b00000 t nf_hook_slow_mod\t[nf_conntrack]',
  'ffffffffc0b00400 t end_marker\t[nf_conntrack]',
  '',
  'garbage line',
  'zzzzzzzzzzzzzzzz T bad_address',
].join('\n');

describe('KallsymsSymbolizer', () => {
  const s = new KallsymsSymbolizer(KALLSYMS);

  it('is available when addresses are visible and keeps only code symbols (aliases collapsed)', () => {
    expect(s.available).toBe(true);
    // _stext/_text, weak_func, ip_local_deliver, ip_forward, the three sys_sync aliases,
    // last_core_func, two nf_tables and two nf_conntrack symbols = 10 distinct addresses.
    expect(s.symbolCount).toBe(10);
  });

  it('resolves an address inside a function: symbol, offset, size (to the next code symbol)', () => {
    const l = s.lookup('0xffffffff81ff6554');
    // Next code symbol after ip_local_deliver (0x…6530) is ip_forward (0x…8090).
    expect(l).toEqual({ address: '0xffffffff81ff6554', symbol: 'ip_local_deliver', offset: 0x24, size: 0x1b60, module: undefined });
    expect(formatLocation(l)).toBe('ip_local_deliver+0x24/0x1b60');
  });

  it('resolves the exact start of a symbol with offset 0', () => {
    expect(s.lookup('0xffffffff81ff8090')).toMatchObject({ symbol: 'ip_forward', offset: 0 });
  });

  it('sorts unsorted input: the module symbol listed first still resolves, with its module', () => {
    const l = s.lookup('0xffffffffc0a013c4');
    expect(l).toMatchObject({ symbol: 'nft_do_chain', offset: 0x3c4, size: 0x5a0, module: 'nf_tables' });
    expect(formatLocation(l)).toBe('nft_do_chain+0x3c4/0x5a0 [nf_tables]');
    expect(s.lookup('0xffffffffc0b00010')).toMatchObject({ symbol: 'nf_hook_slow_mod', module: 'nf_conntrack' });
  });

  it('ignores data symbols: they neither resolve nor cut the preceding function short', () => {
    // D/d/b/R symbols at 0x…6000-0x…6300 are skipped: 0x…6250 still belongs to
    // _stext, whose size runs to the next code symbol (weak_func at 0x…6400).
    expect(s.lookup('0xffffffff81ff6250')).toMatchObject({ symbol: '_stext', offset: 0xff6250, size: 0xff6400 });
    expect(s.lookup('0xffffffff81ff6410')).toMatchObject({ symbol: 'weak_func', offset: 0x10, size: 0x130 });
    expect(s.addressOf('some_data_table')).toBeUndefined();
    expect(s.addressOf('bss_thing')).toBeUndefined();
  });

  it('collapses aliases at one address to one name, preferring one without a leading underscore', () => {
    expect(s.lookup('0xffffffff81ff8a08')).toMatchObject({ symbol: 'ksys_sync_alias', offset: 8 });
    // Among _stext/_text, both underscored: the first one listed is kept.
    expect(s.lookup('0xffffffff81000010')).toMatchObject({ symbol: '_stext', offset: 0x10 });
  });

  it('addressOf finds every name, aliases included', () => {
    expect(s.addressOf('ip_forward')).toBe(0xffffffff81ff8090n);
    expect(s.addressOf('nft_do_chain')).toBe(0xffffffffc0a01000n);
    expect(s.addressOf('__x64_sys_sync')).toBe(0xffffffff81ff8a00n);
    expect(s.addressOf('__ia32_sys_sync')).toBe(0xffffffff81ff8a00n);
    expect(s.addressOf('_text')).toBe(0xffffffff81000000n);
    expect(s.addressOf('no_such_function')).toBeUndefined();
    expect(s.addressOf('bad_address')).toBeUndefined();
  });

  it('an address before the first symbol is raw hex', () => {
    expect(s.lookup('0xffffffff80000000')).toEqual({ address: '0xffffffff80000000' });
    expect(s.lookup('0x1')).toEqual({ address: '0x0000000000000001' });
  });

  it('an address past the last symbol (no known size) is raw hex', () => {
    expect(s.lookup('0xffffffffc0b00400')).toEqual({ address: '0xffffffffc0b00400' });
    expect(s.lookup('0xffffffffffffffff')).toEqual({ address: '0xffffffffffffffff' });
  });

  it('an offset beyond the size never resolves to the symbol: it goes to the next one', () => {
    // last_core_func spans up to nft_do_chain (module area): a hit exactly at the boundary belongs to nft_do_chain.
    expect(s.lookup('0xffffffffc0a01000')).toMatchObject({ symbol: 'nft_do_chain', offset: 0 });
    expect(s.lookup('0xffffffffc0a00fff')).toMatchObject({ symbol: 'last_core_func' });
  });

  it('normalises the address to 16 hex digits and tolerates junk input', () => {
    expect(s.lookup('0xFFFFFFFF81FF8090')).toMatchObject({ address: '0xffffffff81ff8090', symbol: 'ip_forward' });
    expect(s.lookup('not-an-address')).toEqual({ address: 'not-an-address' });
    expect(s.lookup('0x0')).toEqual({ address: '0x0000000000000000' });
  });

  it('caches: repeated lookups return equal results', () => {
    const a = s.lookup('0xffffffff81ff8099');
    const b = s.lookup('0xffffffff81ff8099');
    expect(b).toEqual(a);
    expect(a).toMatchObject({ symbol: 'ip_forward', offset: 9 });
  });
});

describe('KallsymsSymbolizer with kptr_restrict (all addresses zero)', () => {
  const zeroed = KALLSYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000');
  const s = new KallsymsSymbolizer(zeroed);

  it('is not available and returns raw hex for every lookup', () => {
    expect(s.available).toBe(false);
    expect(s.lookup('0xffffffff81ff8095')).toEqual({ address: '0xffffffff81ff8095' });
    expect(formatLocation(s.lookup('0xffffffffc0a013c4'))).toBe('0xffffffffc0a013c4');
  });

  it('addressOf does not report hidden (zero) addresses', () => {
    // Otherwise every "known" function would sit at 0x0 and a drop with no
    // route (dst_in 0x0) would look like ip_forward.
    expect(s.addressOf('ip_forward')).toBeUndefined();
    expect(s.addressOf('ip_local_deliver')).toBeUndefined();
  });

  it('empty input is not available either', () => {
    const e = new KallsymsSymbolizer('');
    expect(e.available).toBe(false);
    expect(e.symbolCount).toBe(0);
    expect(e.lookup('0xffffffff81000000')).toEqual({ address: '0xffffffff81000000' });
  });
});

describe('formatLocation', () => {
  it('symbol+0xoff/0xsize [module]', () => {
    expect(formatLocation({ address: '0x1', symbol: 'nft_do_chain', offset: 0x3c4, size: 0x5a0, module: 'nf_tables' })).toBe('nft_do_chain+0x3c4/0x5a0 [nf_tables]');
    expect(formatLocation({ address: '0x1', symbol: 'ip_rcv', offset: 0, size: 16 })).toBe('ip_rcv+0x0/0x10');
  });
  it('raw address when unresolved', () => {
    expect(formatLocation({ address: '0xffffffff81000000' })).toBe('0xffffffff81000000');
  });
});

describe('KallsymsSymbolizer on this machine’s /proc/kallsyms', () => {
  const text = readFileSync('/proc/kallsyms', 'utf8');
  const s = new KallsymsSymbolizer(text);
  // Independent parse of one well-known function and the next code symbol's address.
  const lines = text.split('\n').map((l) => l.split(/[ \t]+/)).filter((p) => p.length >= 3 && /^[tTwW]$/.test(p[1]));
  const candidates = ['ip_forward', 'ip_local_deliver', 'ip_rcv', 'kfree_skb_reason', 'sk_skb_reason_drop', 'schedule'];
  const known = candidates.map((n) => lines.find((p) => p[2] === n && p[3] === undefined)).find(Boolean);
  const visible = lines.some((p) => !/^0+$/.test(p[0]));

  it('finds a known kernel function in kallsyms', () => {
    expect(known, 'none of ' + candidates.join(', ') + ' in /proc/kallsyms').toBeDefined();
  });

  it('resolves <known symbol>+0x10, or reports raw hex when addresses are hidden', () => {
    const [addrHex, , name] = known!;
    const addr = BigInt('0x' + addrHex);
    expect(s.available).toBe(visible);
    if (!visible) {
      expect(s.lookup('0xffffffff81000010')).toEqual({ address: '0xffffffff81000010' });
      return;
    }
    const want = '0x' + (addr + 0x10n).toString(16).padStart(16, '0');
    const l = s.lookup(want);
    expect(l.address).toBe(want);
    // An alias at the same address may win; then it must be at the same address.
    expect(s.addressOf(l.symbol!)).toBe(addr);
    expect(l.offset).toBe(0x10);
    expect(l.module).toBeUndefined();
    expect(s.addressOf(name)).toBe(addr);
    expect(formatLocation(l)).toMatch(new RegExp(`^${l.symbol}\\+0x10/0x[0-9a-f]+$`));
  });
});

import { describe, it, expect } from 'vitest';
import type { WireMessage } from '../../src/decode/wire.js';
import type { DropWire } from '../../src/enrich/drops.js';
import type { TcpSockWire } from '../../src/enrich/tcp-socket.js';
import { decodeLine } from '../helpers/catalog.js';

// A drop line exactly as probes/drops/kfree_skb.bt prints it (captured on 6.18).
const DROP: DropWire = {
  t: 'drop', ts: 2196337196532, reason: 3, loc: '0xffffffff82046f4c', eth: 2048, len: 40, ifindex: 1, iif: 1,
  netns: 4026531833, dst_in: '0xffffffff81ff6530', l3: 4, l4: 17, s4: 16777343, d4: 16777343,
  s6: '00000000000000000000000000000000', d6: '00000000000000000000000000000000',
  sport: 40123, dport: 9999, tflags: 0, icmp_type: 0, icmp_code: 0, cpu: 1,
};
const DROP_LINE = '{"t":"drop","ts":2196337196532,"reason":3,"loc":"0xffffffff82046f4c","eth":2048,"len":40,"ifindex":1,"iif":1,"netns":4026531833,"dst_in":"0xffffffff81ff6530","l3":4,"l4":17,"s4":16777343,"d4":16777343,"s6":"00000000000000000000000000000000","d6":"00000000000000000000000000000000","sport":40123,"dport":9999,"tflags":0,"icmp_type":0,"icmp_code":0,"cpu":1}';

const SOCK: Omit<TcpSockWire, 't'> = {
  ts: 5000, state: 1, ca_state: 4, pending: 1, retransmits: 2, netns: 4026531840, l3: 6, s4: 0, d4: 0,
  s6: 'b80d0120000000000000000001000000', d6: 'b80d0120000000000000000002000000', sport: 22, dport: 50000, len: 1448, cpu: 3,
};

function sockLine(t: string, over: Record<string, unknown> = {}): string {
  return JSON.stringify({ t, ...SOCK, ...over });
}
function dropLine(over: Record<string, unknown>): string {
  return JSON.stringify({ ...DROP, ...over });
}
function withoutField(obj: object, k: string): string {
  const o: Record<string, unknown> = { ...obj };
  delete o[k];
  return JSON.stringify(o);
}
function kind(m: WireMessage): string {
  return m.kind;
}

describe('decodeLine: our event lines', () => {
  it('decodes a real drop line with every field and its exact values', () => {
    const m = decodeLine(DROP_LINE);
    expect(m).toEqual({ kind: 'event', event: DROP });
  });

  it.each(['retrans', 'synack', 'tlp'])('decodes a %s socket line', (t) => {
    const m = decodeLine(sockLine(t));
    expect(m.kind).toBe('event');
    if (m.kind !== 'event') return;
    expect(m.event).toEqual({ t, ...SOCK });
  });

  it('decodes the ready line', () => {
    expect(decodeLine('{"t":"ready"}')).toEqual({ kind: 'ready' });
  });

  it('rejects an unknown record type, naming it', () => {
    const m = decodeLine('{"t":"dorp","ts":1}');
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toContain('"dorp"');
    expect(decodeLine('{"ts":1}').kind).toBe('undecodable');
  });

  it('keeps the raw line in undecodable results', () => {
    const m = decodeLine('{"t":"drop"}');
    expect(m).toMatchObject({ kind: 'undecodable', line: '{"t":"drop"}' });
  });
});

describe('decodeLine: bpftrace text output', () => {
  it('recognises "Attaching N probes..." (singular and plural)', () => {
    expect(decodeLine('Attaching 2 probes...')).toEqual({ kind: 'attaching', probes: 2 });
    expect(decodeLine('Attaching 1 probe...')).toEqual({ kind: 'attaching', probes: 1 });
    expect(decodeLine('Attaching 12 probes...\r')).toEqual({ kind: 'attaching', probes: 12 });
  });

  it('counts "Lost N events" (text form)', () => {
    expect(decodeLine('Lost 178 events')).toEqual({ kind: 'lost', count: 178 });
    expect(decodeLine('Lost 1 events')).toEqual({ kind: 'lost', count: 1 });
    expect(decodeLine('Lost 1 event')).toEqual({ kind: 'lost', count: 1 });
    expect(decodeLine('Lost 42 events\r')).toEqual({ kind: 'lost', count: 42 });
  });

  it('does not take look-alike text for lost events or attach messages', () => {
    for (const l of ['Lost -5 events', 'Lost many events', 'lost 5 events', ' Lost 5 events', 'Lost 5eventsX', 'Attaching 2 probes', 'Attaching x probes...', 'ERROR: something']) {
      expect(decodeLine(l).kind, l).toBe('undecodable');
    }
  });

  it('ignores empty lines, including a bare CR', () => {
    expect(decodeLine('')).toEqual({ kind: 'ignored' });
    expect(decodeLine('\r')).toEqual({ kind: 'ignored' });
  });

  it('strips one trailing CR before decoding JSON', () => {
    expect(decodeLine(DROP_LINE + '\r')).toEqual({ kind: 'event', event: DROP });
    expect(decodeLine('{"t":"ready"}\r')).toEqual({ kind: 'ready' });
  });
});

describe('decodeLine: bpftrace -f json envelopes', () => {
  it('lost_events with and without spaces (0.17 prints `": "`)', () => {
    expect(decodeLine('{"type": "lost_events", "data": {"events": 3}}')).toEqual({ kind: 'lost', count: 3 });
    expect(decodeLine('{"type":"lost_events","data":{"events":250}}')).toEqual({ kind: 'lost', count: 250 });
  });

  it('lost_events without a usable count is undecodable, never a negative or coerced count', () => {
    for (const l of [
      '{"type":"lost_events","data":{}}',
      '{"type":"lost_events"}',
      '{"type":"lost_events","data":{"events":-3}}',
      '{"type":"lost_events","data":{"events":"5"}}',
      '{"type":"lost_events","data":{"events":null}}',
      '{"type":"lost_events","data":{"events":true}}',
      '{"type":"lost_events","data":{"events":[7]}}',
      '{"type":"lost_events","data":{"events":1.5}}',
      '{"type":"lost_events","data":"5"}',
    ]) {
      expect(decodeLine(l).kind, l).toBe('undecodable');
    }
  });

  it('attached_probes becomes an attaching message', () => {
    expect(decodeLine('{"type": "attached_probes", "data": {"probes": 2}}')).toEqual({ kind: 'attaching', probes: 2 });
    expect(decodeLine('{"type": "attached_probes", "data": {"probes": "x"}}')).toEqual({ kind: 'ignored' });
  });

  it('printf envelopes carry our own lines, trailing newline and all', () => {
    expect(decodeLine('{"type": "printf", "data": "{\\"t\\":\\"ready\\"}\\n"}')).toEqual({ kind: 'ready' });
    expect(decodeLine(JSON.stringify({ type: 'printf', data: DROP_LINE + '\n' }))).toEqual({ kind: 'event', event: DROP });
    expect(decodeLine(JSON.stringify({ type: 'printf', data: DROP_LINE }))).toEqual({ kind: 'event', event: DROP });
    expect(decodeLine(JSON.stringify({ type: 'printf', data: 'Lost 9 events\n' }))).toEqual({ kind: 'lost', count: 9 });
  });

  it('a printf envelope whose payload is not ours is undecodable', () => {
    expect(decodeLine('{"type":"printf","data":"hello\\n"}').kind).toBe('undecodable');
    expect(decodeLine('{"type":"printf","data":{"t":"ready"}}').kind).toBe('undecodable');
    expect(decodeLine('{"type":"printf"}').kind).toBe('undecodable');
  });

  it('other envelope types (maps, time, …) are ignored, not errors', () => {
    expect(decodeLine('{"type": "map", "data": {"@": {"a": 1}}}')).toEqual({ kind: 'ignored' });
    expect(decodeLine('{"type": "time", "data": "12:00:00\\n"}')).toEqual({ kind: 'ignored' });
  });

  it('an object with both `type` and `t` is treated as our record', () => {
    expect(decodeLine('{"t":"ready","type":"x"}')).toEqual({ kind: 'ready' });
  });
});

describe('decodeLine: malformed input is counted, never thrown', () => {
  const bad = [
    '{',
    '{"t":"drop",',
    '{"t":"drop"}}',
    "{'t':'ready'}",
    '{"t":"ready"} trailing',
    '{}x',
    '{\u0000}',
  ];
  it.each(bad)('invalid JSON %j', (l) => {
    const m = decodeLine(l);
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toBe('invalid JSON');
  });

  it('JSON that is not an object', () => {
    for (const l of ['[1,2]', '"drop"', '42', 'null', 'true']) expect(kind(decodeLine(l)), l).toBe('undecodable');
  });

  it('text that does not start with { is undecodable', () => {
    expect(decodeLine(' {"t":"ready"}').kind).toBe('undecodable');
    expect(decodeLine('\ufeff{"t":"ready"}').kind).toBe('undecodable');
  });
});

describe('decodeLine: field validation', () => {
  const numericDrop = ['ts', 'reason', 'eth', 'len', 'ifindex', 'iif', 'netns', 'l3', 'l4', 's4', 'd4', 'sport', 'dport', 'tflags', 'icmp_type', 'icmp_code', 'cpu'];
  const numericSock = ['ts', 'state', 'ca_state', 'pending', 'retransmits', 'netns', 'l3', 's4', 'd4', 'sport', 'dport', 'len', 'cpu'];

  it.each(numericDrop)('drop: missing %s is undecodable', (k) => {
    const m = decodeLine(withoutField(DROP, k));
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toContain(`field ${k} `);
  });

  it.each(numericSock)('retrans: missing %s is undecodable', (k) => {
    expect(decodeLine(withoutField({ t: 'retrans', ...SOCK }, k)).kind).toBe('undecodable');
  });

  it.each([
    ['a string', '"3"'],
    ['negative', '-1'],
    ['fractional', '1.5'],
    ['null', 'null'],
    ['a boolean', 'true'],
    ['an array', '[3]'],
    ['an object', '{"n":3}'],
    ['overflowing to Infinity', '1e400'],
  ])('a numeric field that is %s is rejected', (_what, json) => {
    const line = DROP_LINE.replace('"reason":3', `"reason":${json}`);
    expect(line).not.toBe(DROP_LINE);
    const m = decodeLine(line);
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toContain('reason');
  });

  it('negative numbers in every numeric field of a socket line are rejected', () => {
    for (const k of numericSock) expect(decodeLine(sockLine('retrans', { [k]: -1 })).kind, k).toBe('undecodable');
  });

  it('numbers written with an exponent are still integers', () => {
    const m = decodeLine(DROP_LINE.replace('"reason":3', '"reason":3e0'));
    expect(m.kind).toBe('event');
  });

  it.each([
    ['loc', 'not hex', 'zzzz'],
    ['loc', 'uppercase 0X', '0XFFFF'],
    ['loc', 'without 0x (BigInt would read it as decimal)', '10'],
    ['loc', 'empty', ''],
    ['loc', 'more than 64 bits', '0x1ffffffffffffffff'],
    ['loc', 'a number', 123],
    ['loc', 'with spaces', '0x12 34'],
    ['loc', 'negative', '-0x10'],
    ['dst_in', 'non-hex letters', '0xffffffffg1ff6530'],
    ['s6', 'short', '1'],
    ['s6', '31 digits', '0'.repeat(31)],
    ['s6', '33 digits', '0'.repeat(33)],
    ['s6', 'non-hex', 'g'.repeat(32)],
    ['d6', 'null', null],
    ['d6', 'with a newline', '0'.repeat(31) + '\n'],
  ])('hex field %s %s is rejected', (k, _what, v) => {
    const m = decodeLine(dropLine({ [k]: v }));
    expect(m.kind).toBe('undecodable');
    if (m.kind === 'undecodable') expect(m.why).toBe(`field ${k} is not a hex string`);
  });

  it('accepts the hex forms bpftrace prints', () => {
    expect(decodeLine(dropLine({ loc: '0x0', dst_in: '0x0' })).kind).toBe('event');
    expect(decodeLine(dropLine({ s6: 'f'.repeat(32), d6: '0x' + '0'.repeat(32) })).kind).toBe('event');
    expect(decodeLine(sockLine('retrans', { s6: '1'.repeat(32) })).kind).toBe('event');
  });

  it('socket lines validate s6/d6 too', () => {
    expect(decodeLine(sockLine('synack', { s6: 'xyz' })).kind).toBe('undecodable');
    expect(decodeLine(sockLine('tlp', { d6: 5 })).kind).toBe('undecodable');
  });

  it('never throws on a large batch of mutated lines', () => {
    // Truncate the real line at every position: each prefix is either a
    // decodable event (only the full line) or undecodable.
    let events = 0;
    for (let i = 0; i <= DROP_LINE.length; i++) {
      const m = decodeLine(DROP_LINE.slice(0, i));
      if (m.kind === 'event') events++;
      else expect(['undecodable', 'ignored']).toContain(m.kind);
    }
    expect(events).toBe(1);
  });
});

describe('decodeLine: connection ends (probes/flow-ends)', () => {
  const END = '{"t":"end","ts":740434201310,"oldstate":5,"retrans":1271,"ooo":0,"netns":4026532179,"l3":4,"s4":16894730,"d4":33671946,"s6":"0000000000000000ffff00000101cb0a","d6":"0000000000000000ffff00000201cb0a","sport":50410,"dport":40103}';

  it('a line captured from this kernel decodes to a flow-end message, not an event', () => {
    const m = decodeLine(END);
    expect(m.kind).toBe('flow-end');
    if (m.kind !== 'flow-end') return;
    expect(m.end).toMatchObject({ t: 'end', oldstate: 5, netns: 4026532179, sport: 50410, dport: 40103 });
  });

  it.each([
    ['a negative port', END.replace('"sport":50410', '"sport":-1')],
    ['a missing oldstate', END.replace('"oldstate":5,', '')],
    ['a short IPv6 word string', END.replace('"s6":"0000000000000000ffff00000101cb0a"', '"s6":"ffff"')],
  ])('%s is undecodable', (_why, line) => {
    expect(decodeLine(line).kind).toBe('undecodable');
  });
});

// Rate-limited repeated log lines (issue 10, row 11): one line, then
// "repeated N times" once the window ends; nothing uncounted.
import { describe, expect, it } from 'vitest';
import { keyOf, RepeatLimiter } from '../../src/platform/log-limiter.js';

function harness(windowMs = 60_000) {
  let t = 0;
  const lines: string[] = [];
  const l = new RepeatLimiter((m) => lines.push(m), { windowMs, now: () => t });
  return { l, lines, at: (ms: number) => (t = ms) };
}

describe('RepeatLimiter', () => {
  it('620 identical ENOSPC errors in 20 s print as one line, then one summary when the window ends', () => {
    const h = harness();
    for (let i = 0; i < 620; i++) {
      h.at(i * 32);
      h.l.log('files: ENOSPC: no space left on device, write');
    }
    expect(h.lines).toEqual(['files: ENOSPC: no space left on device, write']);
    expect(h.l.suppressed).toBe(619);
    h.at(60_000);
    h.l.flush();
    expect(h.lines).toEqual(['files: ENOSPC: no space left on device, write', 'files: ENOSPC: no space left on device, write (repeated 619 times in the last 60 s)']);
    // A later occurrence starts a new window and prints again.
    h.at(61_000);
    h.l.log('files: ENOSPC: no space left on device, write');
    expect(h.lines).toHaveLength(3);
  });

  it('treats messages differing only in numbers as one line and keeps the latest for the summary', () => {
    const h = harness();
    h.l.log('elasticsearch: cannot write the spool (ENOSPC); 1000 records dropped');
    h.l.log('elasticsearch: cannot write the spool (ENOSPC); 37 records dropped');
    h.l.log('files: EIO');
    h.at(1000);
    h.l.close();
    expect(h.lines).toEqual([
      'elasticsearch: cannot write the spool (ENOSPC); 1000 records dropped',
      'files: EIO',
      'elasticsearch: cannot write the spool (ENOSPC); 37 records dropped (repeated 1 time in the last 1 s)',
    ]);
    expect(keyOf('a 12 b 3')).toBe('a # b #');
  });

  it('an explicit key groups different texts (samples of undecodable lines)', () => {
    const h = harness();
    h.l.log('undecodable: e.g. {"a"', 'undecodable');
    h.l.log('undecodable: e.g. zzz', 'undecodable');
    h.at(60_001);
    h.l.log('undecodable: e.g. qqq', 'undecodable');
    expect(h.lines).toEqual(['undecodable: e.g. {"a"', 'undecodable: e.g. zzz (repeated 1 time in the last 60 s)', 'undecodable: e.g. qqq']);
  });

  it('a summary is only written when something was suppressed', () => {
    const h = harness();
    h.l.log('once');
    h.at(120_000);
    h.l.close();
    expect(h.lines).toEqual(['once']);
  });

  it('bounds the keys it remembers, summarizing the oldest first', () => {
    const lines: string[] = [];
    const l = new RepeatLimiter((m) => lines.push(m), { now: () => 0, maxKeys: 2 });
    l.log('a x');
    l.log('a x');
    l.log('b x');
    l.log('c x');
    expect(lines).toEqual(['a x', 'b x', 'a x (repeated 1 time in the last 1 s)', 'c x']);
  });
});

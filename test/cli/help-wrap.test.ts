// Help text wraps at word boundaries on any width and in a pipe (issue 10,
// row 12: yargs' ESM wrapper split "En / v:", "sup / pressed").
import { describe, expect, it } from 'vitest';
import { helpWidth, rewrapHelp } from '../../src/cli/help-wrap.js';
import { runDroptrace } from '../helpers/droptrace-process.js';
import { RUN_ALL_OPTIONS } from '../../src/cli/options.js';

const words = (t: string) => t.split(/\s+/).filter(Boolean);

/** Every line fits, or is one word (with its indentation) that cannot. */
function expectFits(text: string, width: number) {
  for (const line of text.split('\n')) {
    if (line.length <= width) continue;
    expect(words(line), `line over ${width}: ${JSON.stringify(line)}`).toHaveLength(1);
  }
}

describe('help output of the CLI', () => {
  const COMMANDS = [['run'], ['tail'], ['top'], ['setup', 'kibana'], []];
  const WIDTHS = [20, 33, 47, 60, 80, 110];

  it.each(COMMANDS.map((c) => [c.join(' ') || '(top level)', c]))('%s --help: the same words at every width, none split', async (_name, cmd) => {
    const pipe = await runDroptrace([...(cmd as string[]), '--help']);
    expect(pipe.code).toBe(0);
    expect(pipe.stderr).toBe('');
    expectFits(pipe.stdout, 100);
    const reference = words(pipe.stdout);
    for (const w of WIDTHS) {
      const r = await runDroptrace([...(cmd as string[]), '--help'], { env: { COLUMNS: String(w) } });
      expect(r.code).toBe(0);
      expectFits(r.stdout, w);
      expect(words(r.stdout), `width ${w}`).toEqual(reference);
    }
  });

  it('run --help carries every option description word for word', async () => {
    const r = await runDroptrace(['run', '--help'], { env: { COLUMNS: '47' } });
    const text = words(r.stdout).join(' ');
    // run shows every option but the pcap-only ones (config/yargs-options.ts).
    for (const o of RUN_ALL_OPTIONS) expect(text, o.name).toContain(words(o.describe).join(' '));
    for (const w of ['Env:', 'overflow', 'DROPTRACE_COLLECTOR_MAX_FLOWS']) expect(words(r.stdout)).toContain(w);
  });
});

describe('rewrapHelp', () => {
  const ROWS = 'Options:\n  --short     A description that is long enough to need wrapping at any usual width  [string]\n  -x          tiny\n';

  it('keeps the description column and indents continuation lines to it', () => {
    expect(rewrapHelp(ROWS, 50)).toBe([
      'Options:',
      '  --short     A description that is long enough to',
      '              need wrapping at any usual width',
      '              [string]',
      '  -x          tiny',
      '',
    ].join('\n'));
  });

  it('stacks a row under its flag when the column would be too narrow', () => {
    expect(rewrapHelp(ROWS, 30)).toBe([
      'Options:',
      '  --short',
      '        A description that is',
      '        long enough to need',
      '        wrapping at any usual',
      '        width [string]',
      '  -x          tiny',
      '',
    ].join('\n'));
  });

  it('never splits a word longer than the line', () => {
    const out = rewrapHelp('  --x  Env: DROPTRACE_A_VERY_LONG_ENVIRONMENT_VARIABLE_NAME_INDEED', 24);
    expect(out.split('\n')).toContain('        DROPTRACE_A_VERY_LONG_ENVIRONMENT_VARIABLE_NAME_INDEED');
  });

  it('width: the terminal, else $COLUMNS, else 100 in a pipe; never above 110', () => {
    expect(helpWidth({ isTTY: true, columns: 37 }, {})).toBe(37);
    expect(helpWidth({ isTTY: true, columns: 300 }, {})).toBe(110);
    expect(helpWidth({ isTTY: false }, { COLUMNS: '64' })).toBe(64);
    expect(helpWidth({ isTTY: false }, {})).toBe(100);
  });
});

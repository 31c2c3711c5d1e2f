import { describe, it, expect } from 'vitest';
import yargs from 'yargs';
import { addOptions } from '../../src/config/index.js';
import { PCAP_OPTIONS } from '../../src/config/options.js';
import { addRunOptions, loadConfig, PCAP_OPTIONS_ALL, RUN_ALL_OPTIONS } from '../../src/cli/options.js';

const parse = async (args: string[]) =>
  (await addRunOptions(yargs(args).strict().exitProcess(false).fail((m, e) => { throw e ?? new Error(m); })).parseAsync()) as Record<string, unknown>;

describe('addRunOptions', () => {
  it('declares every schema option and --config, with no yargs defaults', async () => {
    const argv = await parse([]);
    for (const o of RUN_ALL_OPTIONS) expect(argv[o.name]).toBeUndefined();
    const y = addRunOptions(yargs([]));
    const keys = Object.keys((y as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
    // Every option of `run`; the capture-analysis ones belong to `pcap` only.
    for (const o of RUN_ALL_OPTIONS) expect(keys).toContain(o.name);
    for (const o of PCAP_OPTIONS) expect(keys).not.toContain(o.name);
    expect(keys).toContain('config');
    // The capture-analysis options are declared by `pcap`, with the sinks'.
    const pcap = Object.keys((addOptions(yargs([]), PCAP_OPTIONS_ALL) as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
    for (const o of PCAP_OPTIONS) expect(pcap).toContain(o.name);
  });

  it('flags reach loadConfig raw and are parsed by the schema', async () => {
    const argv = await parse(['--interval', '5m', '--file-max-bytes', '64MiB', '--no-incoming-loss', '--filter-port', '80', '--filter-port', '443', '--file-gzip']);
    const c = loadConfig({ argv, env: { DROPTRACE_INTERVAL: '20', DROPTRACE_INCOMING_LOSS: 'true' } });
    expect(c).toMatchObject({ interval: 300, 'file-max-bytes': 64 * 1024 ** 2, 'incoming-loss': false, 'filter-port': ['80', '443'], 'file-gzip': true });
  });

  it('rejects unknown flags (strict) and missing values', async () => {
    await expect(parse(['--intervall', '5'])).rejects.toThrow(/Unknown argument/);
    await expect(parse(['--interval'])).rejects.toThrow(/Not enough arguments/);
  });

  it('help text shows groups, defaults and env names', async () => {
    const help = await addRunOptions(yargs([]).exitProcess(false)).getHelp();
    expect(help).toContain('Files:');
    expect(help).toContain('Elasticsearch:');
    expect(help).toContain('DROPTRACE_FILE_MAX_BYTES');
    expect(help).toContain('[default: 67108864]');
  });
});

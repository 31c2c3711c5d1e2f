// A command only parses and hands over: main() with real arguments, the
// session functions replaced by fakes that record what they were given.
// Whatever a command does lives in src/session (tested there).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const calls: Array<{ fn: string; args: unknown[] }> = [];
const fake = (fn: string) => async (...args: unknown[]) => {
  calls.push({ fn, args });
};

vi.mock('../../src/session/tail.js', () => ({ runTail: fake('runTail') }));
vi.mock('../../src/session/top.js', () => ({ runTop: fake('runTop') }));
vi.mock('../../src/session/run.js', () => ({ runSidecar: fake('runSidecar') }));
vi.mock('../../src/session/counters.js', () => ({ runCounters: fake('runCounters') }));
vi.mock('../../src/session/doctor.js', () => ({ doctorReport: fake('doctorReport') }));
vi.mock('../../src/session/pcap.js', () => ({ runPcap: fake('runPcap') }));
vi.mock('../../src/session/probes.js', () => ({ probesReport: fake('probesReport') }));
vi.mock('../../src/session/setup.js', () => ({ setupEs: fake('setupEs'), setupKibana: fake('setupKibana') }));

const { main } = await import('../../src/cli/main.js');

let stderr = '';
beforeEach(() => {
  calls.length = 0;
  stderr = '';
  process.exitCode = undefined;
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  for (const k of Object.keys(process.env)) if (k.startsWith('DROPTRACE_')) vi.stubEnv(k, '');
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.exitCode = undefined;
});

async function handed(args: string[]): Promise<{ fn: string; config: Record<string, unknown>; rest: unknown[] }> {
  await main(args);
  expect(process.exitCode, stderr).toBe(0);
  expect(calls).toHaveLength(1);
  const [config, ...rest] = calls[0].args as [Record<string, unknown>, ...unknown[]];
  return { fn: calls[0].fn, config, rest };
}

describe('commands hand their loaded options to the session', () => {
  it('tail', async () => {
    const h = await handed(['tail', '--rate-limit', '5', '--filter-port', '80,443', '--json']);
    expect(h.fn).toBe('runTail');
    expect(h.config).toMatchObject({ 'rate-limit': 5, 'filter-port': ['80,443'], json: true, 'kernel-stack': false });
  });

  it('top, with its older --refresh (a warning on stderr)', async () => {
    const h = await handed(['top', '--refresh', '3', '--view', 'reasons']);
    expect(h.fn).toBe('runTop');
    expect(h.config).toMatchObject({ interval: 3, view: 'reasons' });
    expect(stderr).toBe('droptrace: warning: --refresh is deprecated (an older name); use --interval instead\n');
  });

  it('run, with the sinks\' options and the env', async () => {
    vi.stubEnv('DROPTRACE_MAX_FLOWS', '100');
    const h = await handed(['run', '--interval', '30s', '--output-dir', '/tmp/x', '--events']);
    expect(h.fn).toBe('runSidecar');
    expect(h.config).toMatchObject({ interval: 30, 'output-dir': '/tmp/x', events: true, 'rate-limit': 10_000, 'max-flows': 100 });
  });

  it('counters, with its older --netns', async () => {
    const h = await handed(['counters', '--netns', 'blue', '--interval', '0.5']);
    expect(h.fn).toBe('runCounters');
    expect(h.config).toMatchObject({ 'filter-netns': ['blue'], interval: 0.5 });
    expect(stderr).toContain('--netns is deprecated (an older name); use --filter-netns instead');
  });

  it('doctor', async () => {
    const h = await handed(['doctor', '--duration', '3', '--fail-on', 'high']);
    expect(h.fn).toBe('doctorReport');
    expect(h.config).toMatchObject({ duration: 3, 'fail-on': 'high' });
  });

  it('pcap: the options and the files', async () => {
    const h = await handed(['pcap', '--pcap-after', 'gzip', 'a.pcap', 'dir/']);
    expect(h.fn).toBe('runPcap');
    expect(h.config).toMatchObject({ 'pcap-after': 'gzip' });
    expect(h.rest).toEqual([['a.pcap', 'dir/']]);
  });

  it('probes', async () => {
    const h = await handed(['probes', '--compile-check']);
    expect(h.fn).toBe('probesReport');
    expect(h.config).toMatchObject({ 'compile-check': true, json: false });
  });

  it('setup elasticsearch, with its older --namespace; setup kibana', async () => {
    const es = await handed(['setup', 'elasticsearch', '--es-url', 'https://es:9200', '--namespace', 'prod']);
    expect(es.fn).toBe('setupEs');
    expect(es.config).toMatchObject({ 'es-url': 'https://es:9200', 'es-namespace': 'prod', retention: '30d' });
    expect(stderr).toContain('--namespace is deprecated (an older name); use --es-namespace instead');
    calls.length = 0;
    const kb = await handed(['setup', 'kibana', '--kibana-url', 'https://kb:5601']);
    expect(kb.fn).toBe('setupKibana');
    expect(kb.config).toMatchObject({ 'kibana-url': 'https://kb:5601' });
  });

  it('a bad value stops at the command, before the session (exit 2, one line and a hint)', async () => {
    await main(['top', '--interval', '0']);
    expect(process.exitCode).toBe(2);
    expect(calls).toHaveLength(0);
    expect(stderr).toMatch(/^droptrace: error: --interval: must be a whole number of seconds from 1 to 60.*\n  hint: Run `droptrace top --help`/);
  });
});

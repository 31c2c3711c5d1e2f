// Config file limits (issue 10, rows 4 and 5): only regular files, a size cap
// enforced while reading, caps on the parsed document, and no error ever
// quoting the content of a file that is not a valid config.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/cli/options.js';
import { MAX_CONFIG_BYTES } from '../../src/config/file-limits.js';
import { UsageError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'droptrace-cfg-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const file = (text: string | Buffer, name = `c${++n}.yaml`) => {
  const p = join(root, name);
  writeFileSync(p, text);
  return p;
};

/** loadConfig with the real file reader; returns the UsageError and how long it took. */
function loadError(path: string): { err: UsageError; ms: number } {
  const t0 = Date.now();
  try {
    loadConfig({ argv: { config: path }, env: {} });
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return { err: e as UsageError, ms: Date.now() - t0 };
  }
  throw new Error(`${path} was accepted`);
}

describe('config file: what may be read', () => {
  it('/dev/zero is refused at once as a character device (it used to read 12.9 GB)', () => {
    const { err, ms } = loadError('/dev/zero');
    expect(err.message).toBe('config file /dev/zero is a character device, not a regular file');
    expect(ms).toBeLessThan(1000);
  });

  it('a FIFO is refused at once instead of blocking for ever', () => {
    const fifo = join(root, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    const { err, ms } = loadError(fifo);
    expect(err.message).toBe(`config file ${fifo} is a FIFO, not a regular file`);
    expect(ms).toBeLessThan(1000);
  });

  it('a directory is refused', () => {
    expect(loadError(root).err.message).toMatch(/is a directory, not a regular file/);
  });

  it('a 25 MB YAML list is refused by size before it is read', () => {
    const big = file(Buffer.alloc(25 << 20, '- x\n'));
    const { err, ms } = loadError(big);
    expect(err.message).toBe(`config file ${big} is ${25 << 20} bytes; a config file may be at most ${MAX_CONFIG_BYTES} bytes`);
    expect(ms).toBeLessThan(2000);
  });

  it('accepts a file right at the size cap, refuses one byte more', () => {
    const pad = (size: number) => 'interval: 10\n#' + 'x'.repeat(size - 15) + '\n';
    expect(() => loadConfig({ argv: { config: file(pad(MAX_CONFIG_BYTES)) }, env: {} })).not.toThrow();
    expect(loadError(file(pad(MAX_CONFIG_BYTES + 1))).err.message).toMatch(/may be at most 1048576 bytes/);
  });

  it('binary content (NUL bytes, invalid UTF-8) is refused without quoting it', () => {
    expect(loadError(file(Buffer.from([0x69, 0x3a, 0x00, 0x31]))).err.message).toMatch(/is not a text file \(it contains NUL bytes\)$/);
    expect(loadError(file(Buffer.from([0x61, 0x3a, 0x20, 0xff, 0xfe]))).err.message).toMatch(/is not a text file \(not valid UTF-8\)$/);
  });
});

describe('config file: caps on the document', () => {
  it.each([
    ['a long list', `filter-port:\n${'  - 80\n'.repeat(1025)}`, 'has a list of more than 1024 items'],
    ['deep nesting', `interval: ${'['.repeat(9)}1${']'.repeat(9)}\n`, 'is nested deeper than 8 levels'],
    ['a long string', `host-name: ${'a'.repeat(4097)}\n`, 'has a value longer than 4096 characters'],
  ])('%s is refused with the cap it exceeds', (_what, text, reason) => {
    expect(loadError(file(text)).err.message).toContain(reason);
  });

  it('absurd nesting (100k brackets) is an error, not a crash', () => {
    const { err } = loadError(file('['.repeat(100_000)));
    expect(err.message).toMatch(/^config file .*: not valid YAML/);
  });

  it('a YAML alias bomb (billion laughs) is refused', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) lines.push(`${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(',')}]`);
    const { err, ms } = loadError(file(lines.join('\n') + '\n'));
    expect(err.message).toMatch(/^config file .*: not valid YAML/);
    expect(ms).toBeLessThan(2000);
  });
});

describe('config file: never echo a file that is not a config', () => {
  const SECRETS = ['$y$j9T$Zq0secretHASHvalue', 'hunter2-PASSWORD', 'sk_live_TOKEN123'];
  const noSecret = (msg: string) => {
    for (const s of SECRETS) expect(msg).not.toContain(s);
    expect(msg).not.toMatch(/root|alice|daemon/);
  };

  it('a symlink to a shadow-like file: one line, no line of it', () => {
    const shadow = file(`root:${SECRETS[0]}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:${SECRETS[0]}x:19000:0:99999:7:::\n`, 'shadow');
    const link = join(root, 'droptrace.yaml');
    symlinkSync(shadow, link);
    const { err } = loadError(link);
    // The YAML parser reads each "name:hash:…" line as a key: before, each was echoed as an unknown key.
    expect(err.message).toBe(`config file ${link}: none of its 3 top-level keys is a droptrace option: is it the right file? (its keys are not shown, in case it is not meant to be read)`);
    noSecret(err.message);
  });

  it('a credentials file that parses as YAML: the keys are not echoed', () => {
    const p = file(`alice: ${SECRETS[1]}\nroot: ${SECRETS[2]}\ndaemon: x\n`);
    const { err } = loadError(p);
    expect(err.message).toBe(`config file ${p}: none of its 3 top-level keys is a droptrace option: is it the right file? (its keys are not shown, in case it is not meant to be read)`);
    noSecret(err.message);
  });

  it('JSON and YAML syntax errors give a position, not the text around it', () => {
    const j = file(`{"root": "${SECRETS[1]}", }`, 'x.json');
    const je = loadError(j).err.message;
    expect(je).toMatch(/^config file .*x\.json: not valid JSON( \(at line 1, column \d+\))?$/);
    noSecret(je);
    const y = file(`root: "${SECRETS[2]}\n  alice: [${SECRETS[1]}\n`, 'y.yaml');
    const ye = loadError(y).err.message;
    expect(ye).toMatch(/^config file .*y\.yaml: not valid YAML: [a-z ]+ at line \d+, column \d+$/);
    noSecret(ye);
  });

  it('a real config with a typo still names the key and suggests the option', () => {
    expect(loadError(file('interval: 5\nmax_flow: 3\nzzz: 1\n')).err.message).toMatch(/unknown key "max_flow" \(did you mean "max-flows"\?\)[\s\S]*unknown key "zzz"/);
  });
});

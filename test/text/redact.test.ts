// Secrets never printed (issue 10, row 8): shapes that always carry one, and
// values registered when read from a file or the environment.
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, redact, registerBasicAuth, registerSecret, registerSecretEnv } from '../../src/text/redact.js';

afterEach(() => clearSecrets());

describe('redact', () => {
  it.each([
    ['http://u:s3cr3t@127.0.0.1:1', 'http://u:***@127.0.0.1:1'],
    ['got "https://elastic:pa%40ss@es.example:9200/x"', 'got "https://elastic:***@es.example:9200/x"'],
    ['https://TOKEN123@h/', 'https://***@h/'],
    ['http://u:p@ss@h:9200/a@b', 'http://u:***@h:9200/a@b'],
    ['Authorization: ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==', 'Authorization: ApiKey ***'],
    ['"authorization":"Basic ZWxhc3RpYzpodW50ZXIy"', '"authorization":"Basic ***"'],
    ['DROPTRACE_ES_PASSWORD=hunter2 more', 'DROPTRACE_ES_PASSWORD=*** more'],
    ['{"password": "hunter2", "user": "x"}', '{"password": "***", "user": "x"}'],
    ['api_key: abcdef', 'api_key: ***'],
  ])('%s', (input, out) => {
    expect(redact(input)).toBe(out);
  });

  it('leaves ordinary text alone, including option names that mention secrets', () => {
    for (const t of [
      'put the password in a file named by es-password-file, or in env DROPTRACE_ES_PASSWORD',
      '--es-password-file: cannot read secret file /etc/x: ENOENT',
      'es-password-file: /etc/droptrace/es.pw',
      'http://127.0.0.1:9200/_bulk',
      '12 tokens in 3 s',
    ]) expect(redact(t)).toBe(t);
  });

  it('masks registered values wherever they appear, and their base64 and Basic forms', () => {
    registerSecret('  correct-horse-battery\n');
    registerBasicAuth('elastic', 'Tr0ub4dor&3');
    const basic = Buffer.from('elastic:Tr0ub4dor&3').toString('base64');
    const b64 = Buffer.from('correct-horse-battery').toString('base64');
    expect(redact(`a correct-horse-battery b ${b64} c Tr0ub4dor&3 d ${basic}`)).toBe('a *** b *** c *** d ***');
  });

  it('registers the secret environment variables', () => {
    registerSecretEnv({ DROPTRACE_ES_API_KEY: 'c2VjcmV0LWtleS12YWx1ZQ==', DROPTRACE_ES_PASSWORD: 'pw-from-env', OTHER: 'visible-value' });
    expect(redact('key c2VjcmV0LWtleS12YWx1ZQ== pw pw-from-env other visible-value')).toBe('key *** pw *** other visible-value');
  });

  it('ignores values too short to be told from ordinary words', () => {
    registerSecret('ab');
    expect(redact('about tab')).toBe('about tab');
  });
});

// Secrets never reach a log line, an error or a record: every message the CLI
// prints passes through redact(). Two layers:
//   - shapes that always carry a secret: URL userinfo (scheme://user:pass@),
//     HTTP Authorization values (ApiKey/Basic/Bearer), key=value and
//     "key": "value" pairs whose key names a password, token or API key;
//   - exact values registered when they are read (the password and API key
//     from a file or the environment, and their Basic/base64 forms), wherever
//     they appear.

const MASK = '***';
const secrets = new Set<string>();

/** Remember a secret value (from a file, env var, …) so it is masked wherever it shows up. Short values are ignored (they would mask ordinary words). */
export function registerSecret(value: string | undefined | null): void {
  if (!value) return;
  const v = value.trim();
  if (v.length < 4) return;
  secrets.add(v);
  // The forms a client may print: base64 of the value (API keys are sent as is, passwords inside Basic).
  secrets.add(Buffer.from(v).toString('base64'));
}

/** A username:password pair: the Basic header value too. */
export function registerBasicAuth(user: string, password: string): void {
  registerSecret(password);
  if (password) secrets.add(Buffer.from(`${user}:${password}`).toString('base64'));
}

/** Environment variables whose value is a secret, registered at start. */
export const SECRET_ENV = ['DROPTRACE_ES_PASSWORD', 'DROPTRACE_ES_API_KEY', 'DROPTRACE_KIBANA_PASSWORD', 'DROPTRACE_KIBANA_API_KEY'];

export function registerSecretEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const k of SECRET_ENV) registerSecret(env[k]);
}

// Greedy up to the last '@' of the authority: a raw '@' in the password must not leave its tail visible.
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>]*)@/gi;
const AUTH_HEADER = /\b(authorization["']?\s*[:=]\s*["']?\s*(?:apikey|basic|bearer)\s+)[A-Za-z0-9+/=._~-]+/gi;
const SECRET_KEY = '(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey)';
const KEY_VALUE = new RegExp(`(\\b[\\w.-]*${SECRET_KEY}["']?\\s*[:=]\\s*["']?)([^\\s"',;&}]+)`, 'gi');

/** The text with every known secret shape and value masked. */
export function redact(text: string): string {
  let out = text
    .replace(URL_USERINFO, (_m, scheme: string, info: string) => {
      const colon = info.indexOf(':');
      // user:password → user:***; a lone token (https://TOKEN@host) is a secret too.
      return colon >= 0 ? `${scheme}${info.slice(0, colon)}:${MASK}@` : `${scheme}${MASK}@`;
    })
    .replace(AUTH_HEADER, `$1${MASK}`)
    .replace(KEY_VALUE, (m, key: string, value: string) => (/file$/i.test(key.replace(/["'\s:=]+$/, '')) ? m : `${key}${MASK}`));
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** Tests only. */
export function clearSecrets(): void {
  secrets.clear();
}

// Turn one raw value (a flag, an env string, a config file value) into the
// typed value its schema row asks for. Errors are plain reasons; the caller
// prefixes where the value came from.
import type { OptionSpec } from './schema.js';
import { redact } from '../text/redact.js';

export class ValueError extends Error {}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/i;
const BYTES_RE = /^(\d+(?:\.\d+)?|\.\d+)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?$/i;
const DURATION_UNIT: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };
const BYTES_UNIT: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

export type RawValue = unknown;

/** `from: 'env'` splits string lists on commas. */
export function parseValue(spec: OptionSpec, raw: RawValue, from: 'flag' | 'env' | 'file'): number | boolean | string | string[] {
  switch (spec.type) {
    case 'boolean':
      return parseBoolean(raw);
    case 'int':
    case 'number':
      return inRange(spec, toNumber(raw, spec), raw);
    case 'duration':
      return inRange(spec, toDuration(raw, spec), raw);
    case 'bytes':
      return inRange(spec, toBytes(raw, spec), raw);
    case 'string':
      return toStringValue(spec, raw);
    case 'string[]':
      return toStringList(raw, from);
  }
}

function parseBoolean(raw: RawValue): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const v = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
  }
  throw new ValueError(`must be true or false, got ${shown(raw)}`);
}

function expected(spec: OptionSpec): string {
  const range = rangeText(spec);
  switch (spec.type) {
    case 'int':
      return `must be an integer${range}`;
    case 'number':
      return `must be a number${range}`;
    case 'duration':
      return `must be ${spec.integer ? 'a whole number of seconds' : 'a number of seconds'}${range} (or with a unit: "500ms", "30s", "5m", "1h")`;
    case 'bytes':
      return `must be a size in bytes${range} (e.g. 67108864, "64MiB", "100MB")`;
    default:
      return 'is invalid';
  }
}

function rangeText(spec: OptionSpec): string {
  const { min, max } = spec;
  if (min !== undefined && max !== undefined) return ` from ${min} to ${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

function toNumber(raw: RawValue, spec: OptionSpec): number {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && NUMBER_RE.test(raw.trim())) n = Number(raw.trim());
  else throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
  if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
  return n;
}

function toDuration(raw: RawValue, spec: OptionSpec): number {
  let s: number;
  if (typeof raw === 'number') s = raw;
  else {
    const m = typeof raw === 'string' ? DURATION_RE.exec(raw.trim()) : null;
    if (!m) throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
    s = Number(m[1]) * DURATION_UNIT[(m[2] ?? 's').toLowerCase()];
  }
  // Round away float noise from unit products (0.1 * 60 …) before the integer check.
  s = Math.round(s * 1e6) / 1e6;
  if (!Number.isFinite(s) || (spec.integer && !Number.isInteger(s))) throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
  return s;
}

function toBytes(raw: RawValue, spec: OptionSpec): number {
  let b: number;
  if (typeof raw === 'number') b = raw;
  else {
    const m = typeof raw === 'string' ? BYTES_RE.exec(raw.trim()) : null;
    if (!m) throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
    b = Math.round(Number(m[1]) * BYTES_UNIT[(m[2] ?? 'b').toLowerCase()]);
  }
  if (!Number.isSafeInteger(b)) throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
  return b;
}

function inRange(spec: OptionSpec, v: number, raw: RawValue): number {
  if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
    throw new ValueError(`${expected(spec)}, got ${shown(raw)}`);
  }
  return v;
}

function toStringValue(spec: OptionSpec, raw: RawValue): string {
  let v: string;
  if (typeof raw === 'string') v = raw;
  else if (typeof raw === 'number' && Number.isFinite(raw)) v = String(raw);
  else throw new ValueError(`must be a string, got ${shown(raw)}`);
  if (v.length === 0) throw new ValueError('must not be empty');
  if (spec.path && /[\0\n\r]/.test(v)) throw new ValueError(`must be a file path (no NUL or newline), got ${shown(v)}`);
  if (spec.choices && !spec.choices.includes(v)) throw new ValueError(`must be one of ${spec.choices.join(', ')}, got ${shown(v)}`);
  if (spec.check) {
    try {
      v = spec.check(v);
    } catch (e) {
      throw new ValueError(`${(e as Error).message}, got ${shown(v)}`);
    }
  }
  return v;
}

function toStringList(raw: RawValue, from: 'flag' | 'env' | 'file'): string[] {
  const items = Array.isArray(raw) ? raw : [raw];
  const out: string[] = [];
  for (const item of items) {
    if (typeof item === 'number' && Number.isFinite(item)) out.push(String(item));
    else if (typeof item === 'string') {
      if (from === 'env') out.push(...item.split(',').map((s) => s.trim()).filter((s) => s !== ''));
      else out.push(item);
    } else throw new ValueError(`must be a list of strings, got ${shown(raw)}`);
  }
  return out;
}

/** A value for an error message: secrets masked (a URL's password…), quoted, control/bidi characters escaped, truncated. */
export function shown(raw: RawValue): string {
  let s: string;
  try {
    s = JSON.stringify(raw) ?? String(raw);
  } catch {
    s = String(raw);
  }
  s = redact(s);
  s = s.replace(/[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// The config file: YAML or JSON (by extension .json/.yaml/.yml, else by
// content), a mapping of options in kebab-case as on the CLI (one file for
// every command: each takes its own options, and keys of other commands are
// no error):
//
//   interval: 10
//   output-dir: /var/log/droptrace
//   filter-port: [80, 443]
//
// Options may also be nested under their group's key (OptionGroup.nest); the
// group's prefix is implied, and any option of that group may be written in full:
//   elasticsearch: (or es:)   { url, namespace, api-key-file, … }   → es-url, es-namespace, …
//   files: (or file:)          { max-bytes, max-age, keep, gzip, output-dir } → file-max-bytes, …
//   filters: (or filter:)      { host, port, proto, iface, netns, reason, exclude-reason } → filter-host, …
//   pcap:                      { state-dir, state-max-connections, max-connections, after, lock-wait } → pcap-state-dir, …
// Unknown keys, duplicate options and secrets given as values are errors.
// Limits (size, kind of file, nesting) and what an error may quote: file-limits.ts.
import { parse as parseYaml } from 'yaml';
import { jsonErrorText, readConfigFile, shapeProblem, yamlErrorText } from './file-limits.js';
import { REFUSED_SECRET_KEYS, type OptionGroup, type OptionSpec } from './schema.js';
import { didYouMean, closest } from './suggest.js';

interface NestedGroup {
  prefix: string;
  group: OptionGroup;
}

/** The nesting keys of the groups these options belong to. */
export function nestedGroups(specs: readonly OptionSpec[]): Map<string, NestedGroup> {
  const out = new Map<string, NestedGroup>();
  for (const s of specs) for (const k of s.group.nest?.keys ?? []) out.set(k, { prefix: s.group.nest!.prefix, group: s.group });
  return out;
}

export interface FileValue {
  raw: unknown;
  /** The key as written, e.g. "elasticsearch.url". */
  key: string;
}

export interface ParsedConfigFile {
  values: Map<string, FileValue>;
  errors: string[];
}

export type ReadFile = (path: string) => string;

export const defaultReadFile: ReadFile = (path) => readConfigFile(path);

/** Parse the text into a plain object; throws Error(reason) — a reason that never quotes the text. */
export function parseConfigText(path: string, text: string): unknown {
  const json = /\.json$/i.test(path) || (!/\.ya?ml$/i.test(path) && /^\s*\{/.test(text));
  let doc: unknown;
  if (json) {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new Error(jsonErrorText(e, text));
    }
  } else {
    try {
      // uniqueKeys (the default) makes a repeated key an error; aliases are capped (billion laughs).
      doc = parseYaml(text, { uniqueKeys: true, prettyErrors: true, maxAliasCount: 100 });
    } catch (e) {
      throw new Error(yamlErrorText(e));
    }
  }
  const problem = shapeProblem(doc);
  if (problem) throw new Error(`${problem} (more than any droptrace config needs)`);
  return doc;
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Flatten the document to option name → value, collecting every key error.
 * `specs` are every option any command takes (a key of another command is
 * no error); aliases count as their option's name.
 */
export function flattenConfig(doc: unknown, specs: readonly OptionSpec[]): ParsedConfigFile {
  const values = new Map<string, FileValue>();
  const errors: string[] = [];
  // An empty file is an empty config.
  if (doc === null || doc === undefined) return { values, errors };
  if (!isMapping(doc)) return { values, errors: ['must be a mapping of option names to values'] };
  const byName = new Map<string, OptionSpec>();
  for (const sp of specs) {
    byName.set(sp.name, sp);
    for (const a of sp.aliases ?? []) byName.set(a, sp);
  }
  const groups = nestedGroups(specs);
  const topNames = [...byName.keys(), ...groups.keys()];

  const put = (name: string, raw: unknown, key: string) => {
    const prev = values.get(name);
    if (prev) errors.push(`"${key}" sets ${name} again (already set by "${prev.key}")`);
    else if (raw === null || raw === undefined) errors.push(`"${key}" has no value (remove it to use the default)`);
    else values.set(name, { raw, key });
  };

  // Keys that are neither options nor close to one are named only if the file
  // otherwise looks like a droptrace config: a file given by mistake (a
  // symlink to /etc/shadow, a credentials file) must not be echoed key by key.
  const unknownUnnamed: string[] = [];
  for (const [key, raw] of Object.entries(doc)) {
    if (REFUSED_SECRET_KEYS[key]) {
      errors.push(`"${key}" is not accepted: secrets are never read from the config file; ${REFUSED_SECRET_KEYS[key]}`);
      continue;
    }
    if (byName.has(key)) {
      put(key, raw, key);
      continue;
    }
    const nested = groups.get(key);
    if (!nested) {
      const hint = didYouMean(key, topNames);
      if (hint) errors.push(`unknown key ${shownKey(key)}${hint}`);
      else unknownUnnamed.push(key);
      continue;
    }
    if (!isMapping(raw)) {
      errors.push(`"${key}" must be a mapping of ${nested.group.title} options`);
      continue;
    }
    const members = [...byName.keys()].filter((n) => byName.get(n)!.group.title === nested.group.title);
    const shortNames = members.map((n) => (n.startsWith(nested.prefix) ? n.slice(nested.prefix.length) : n));
    for (const [sub, value] of Object.entries(raw)) {
      const full = `${key}.${sub}`;
      const name = members.includes(nested.prefix + sub) ? nested.prefix + sub : members.includes(sub) ? sub : undefined;
      if (REFUSED_SECRET_KEYS[nested.prefix + sub] || REFUSED_SECRET_KEYS[sub]) {
        errors.push(`"${full}" is not accepted: secrets are never read from the config file; ${REFUSED_SECRET_KEYS[nested.prefix + sub] ?? REFUSED_SECRET_KEYS[sub]}`);
      } else if (name) {
        put(name, value, full);
      } else {
        const hint = closest(sub, shortNames);
        errors.push(`unknown key ${shownKey(full)}${hint ? ` (did you mean "${key}.${hint}"?)` : ''}`);
      }
    }
  }
  const known = Object.keys(doc).some((k) => byName.has(k) || groups.has(k) || REFUSED_SECRET_KEYS[k] || k === 'config');
  if (known) errors.push(...unknownUnnamed.map((k) => `unknown key ${shownKey(k)}`));
  else if (unknownUnnamed.length) {
    const which = unknownUnnamed.length === 1 ? 'its only top-level key is not a' : `none of its ${unknownUnnamed.length} top-level keys is a`;
    errors.push(`${which} droptrace option: is it the right file? (its keys are not shown, in case it is not meant to be read)`);
  }
  return { values, errors };
}

/** A key as written, quoted, control characters escaped, cut at 64 characters. */
function shownKey(k: string): string {
  const s = JSON.stringify(k.length > 64 ? `${k.slice(0, 61)}...` : k);
  return s.replace(/[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

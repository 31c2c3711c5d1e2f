// The config file: YAML or JSON (by extension .json/.yaml/.yml, else by
// content), a mapping of run options in kebab-case as on the CLI:
//
//   interval: 10
//   output-dir: /var/log/droptrace
//   filter-port: [80, 443]
//
// Options may also be nested under a group; the group's prefix is implied,
// and any option of that group may be written in full:
//   elasticsearch: (or es:)   { url, namespace, api-key-file, … }   → es-url, es-namespace, …
//   files: (or file:)          { max-bytes, max-age, keep, gzip, output-dir } → file-max-bytes, …
//   filters: (or filter:)      { host, port, proto, iface, netns, reason, exclude-reason } → filter-host, …
//   pcap:                      { state-dir, state-max-connections, max-connections, after, lock-wait } → pcap-state-dir, …
// Unknown keys, duplicate options and secrets given as values are errors.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { REFUSED_SECRET_KEYS, RUN_OPTIONS, SPEC_BY_NAME, type OptionGroup } from './schema.js';
import { didYouMean, closest } from './suggest.js';

interface NestedGroup {
  prefix: string;
  group: OptionGroup;
}

export const NESTED_GROUPS: Readonly<Record<string, NestedGroup>> = {
  elasticsearch: { prefix: 'es-', group: 'Elasticsearch' },
  es: { prefix: 'es-', group: 'Elasticsearch' },
  files: { prefix: 'file-', group: 'Files' },
  file: { prefix: 'file-', group: 'Files' },
  filters: { prefix: 'filter-', group: 'Filters' },
  filter: { prefix: 'filter-', group: 'Filters' },
  pcap: { prefix: 'pcap-', group: 'Pcap' },
};

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

export const defaultReadFile: ReadFile = (path) => readFileSync(path, 'utf8');

/** Parse the text into a plain object; throws Error(reason). */
export function parseConfigText(path: string, text: string): unknown {
  const json = /\.json$/i.test(path) || (!/\.ya?ml$/i.test(path) && /^\s*\{/.test(text));
  if (json) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`not valid JSON: ${(e as Error).message}`);
    }
  }
  try {
    // uniqueKeys (the default) makes a repeated key an error.
    return parseYaml(text, { uniqueKeys: true, prettyErrors: true });
  } catch (e) {
    throw new Error(`not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Flatten the document to option name → value, collecting every key error. */
export function flattenConfig(doc: unknown): ParsedConfigFile {
  const values = new Map<string, FileValue>();
  const errors: string[] = [];
  // An empty file is an empty config.
  if (doc === null || doc === undefined) return { values, errors };
  if (!isMapping(doc)) return { values, errors: ['must be a mapping of option names to values'] };
  const topNames = [...SPEC_BY_NAME.keys(), ...Object.keys(NESTED_GROUPS)];

  const put = (name: string, raw: unknown, key: string) => {
    const prev = values.get(name);
    if (prev) errors.push(`"${key}" sets ${name} again (already set by "${prev.key}")`);
    else if (raw === null || raw === undefined) errors.push(`"${key}" has no value (remove it to use the default)`);
    else values.set(name, { raw, key });
  };

  for (const [key, raw] of Object.entries(doc)) {
    if (REFUSED_SECRET_KEYS[key]) {
      errors.push(`"${key}" is not accepted: secrets are never read from the config file; ${REFUSED_SECRET_KEYS[key]}`);
      continue;
    }
    if (SPEC_BY_NAME.has(key)) {
      put(key, raw, key);
      continue;
    }
    const nested = NESTED_GROUPS[key];
    if (!nested) {
      errors.push(`unknown key "${key}"${didYouMean(key, topNames)}`);
      continue;
    }
    if (!isMapping(raw)) {
      errors.push(`"${key}" must be a mapping of ${nested.group} options`);
      continue;
    }
    const members = RUN_OPTIONS.filter((o) => o.group === nested.group).map((o) => o.name as string);
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
        errors.push(`unknown key "${full}"${hint ? ` (did you mean "${key}.${hint}"?)` : ''}`);
      }
    }
  }
  return { values, errors };
}

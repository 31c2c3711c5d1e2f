// The Elastic integration package deploy/elastic/droptrace/, built from the
// SAME definitions `droptrace setup elasticsearch|kibana` installs:
//   - mappings(), the component template settings and the data stream names
//     of src/sinks/elasticsearch/templates.ts + routing.ts (DATASET_TYPES)
//     → one data stream per dataset (fields/*.yml, manifest.yml with the
//     dynamic templates and settings, lifecycle.yml with the default retention);
//   - deploy/kibana/droptrace.ndjson → kibana/<type>/<id>.json.
// Pure: packageFiles() returns { relative path: text }; generate.mjs writes
// them, and test/deploy/elastic-package.test.ts checks the committed tree is
// exactly what these definitions give (and that the fields map back to the
// same mapping).
import { stringify } from 'yaml';

export const PACKAGE = {
  name: 'droptrace',
  title: 'droptrace',
  version: '0.1.0',
  formatVersion: '3.3.0',
  kibanaVersion: '^8.14.0 || ^9.0.0',
  defaultRetention: '30d',
};

const DESCRIPTIONS = {
  'droptrace.drops': 'Packets the kernel dropped: reason, kernel location, flow, direction (per-event records).',
  'droptrace.retransmits': 'TCP retransmits, tail-loss probes and incoming loss per connection (per-event records).',
  'droptrace.flows': 'Exact per-window counts per flow, direction, action, reason and location.',
  'droptrace.stats': 'droptrace self-stats and kernel-counter coverage.',
  'droptrace.counters': 'Kernel loss counters per network namespace: delta, rate, baseline, storm flag and meaning.',
  'droptrace.findings': 'Diagnosis findings: cause, severity, impact, evidence, checks, fixes, affected flow and netfilter rule.',
};

const yml = (v) => stringify(v, { lineWidth: 0, aliasDuplicateObjects: false });

/**
 * Objects `setup` maps dynamically (droptrace.* is `dynamic: true` with
 * dynamic templates). The package spec has no per-object `dynamic` and no
 * path_match templates in manifests, so their known shapes are declared as
 * wildcard fields (Fleet turns them into dynamic templates).
 */
export const DYNAMIC_OBJECTS = {
  // sinks.<sink>.<counter>
  'droptrace.stats.sinks': [{ name: '*.*', type: 'long' }],
  // coverage.<signal>.{counter,kernel,traced,ratio}
  'droptrace.coverage': [{ name: '*.counter', type: 'keyword' }, { name: '*.kernel', type: 'long' }, { name: '*.traced', type: 'long' }, { name: '*.ratio', type: 'double' }],
};

/** An ES mapping's properties → fields.yml entries (groups for objects with properties). */
export function fieldsOf(properties, prefix = '') {
  return Object.entries(properties).flatMap(([name, f]) => {
    const path = prefix + name;
    if (f.properties) return [{ name, type: 'group', fields: fieldsOf(f.properties, path + '.') }];
    if (f.type === 'object') {
      const shapes = DYNAMIC_OBJECTS[path];
      if (!shapes) throw new Error(`dynamic object ${path} has no declared shape in DYNAMIC_OBJECTS`);
      return shapes.map((d) => ({ name: `${name}.${d.name}`, type: 'object', object_type: d.type, object_type_mapping_type: '*' }));
    }
    return [{ name, type: f.type, ...(f.ignore_above ? { ignore_above: f.ignore_above } : {}) }];
  });
}

/** `index.x.y` settings → the package spec's shape (a few at the top level, the rest nested under index). */
export function settingsOf(flat) {
  const TOP = new Set(['number_of_shards', 'auto_expand_replicas', 'max_result_window', 'refresh_interval']);
  const out = {};
  for (const [k, v] of Object.entries(flat)) {
    const parts = k.replace(/^index\./, '').split('.');
    if (parts.length === 1 && TOP.has(parts[0])) {
      out[parts[0]] = v;
      continue;
    }
    let t = (out.index ??= {});
    for (const p of parts.slice(0, -1)) t = t[p] ??= {};
    t[parts.at(-1)] = v;
  }
  return out;
}

/** fields.yml entries → ES properties again (the test's round trip; wildcard fields are skipped). */
export function propertiesOf(fields) {
  const out = {};
  for (const f of fields) {
    if (f.name.includes('*')) continue;
    let target = out;
    const parts = f.name.split('.');
    for (const p of parts.slice(0, -1)) target = (target[p] ??= { properties: {} }).properties;
    const leaf = parts.at(-1);
    if (f.type === 'group') target[leaf] = { properties: { ...(target[leaf]?.properties ?? {}), ...propertiesOf(f.fields) } };
    else target[leaf] = { type: f.type, ...(f.ignore_above ? { ignore_above: f.ignore_above } : {}) };
  }
  return out;
}

function dataStreamFiles(dataset, type, mapping, settings) {
  const ds = dataset.replace(/^droptrace\./, '');
  const dir = `data_stream/${ds}`;
  const { data_stream: _ds, '@timestamp': ts, ...rest } = mapping.properties;
  return {
    [`${dir}/manifest.yml`]: yml({
      title: `droptrace ${ds}`,
      type,
      dataset,
      elasticsearch: {
        index_template: {
          settings: settingsOf(settings),
          // Unknown top-level fields stay unindexed, as with setup's templates.
          mappings: { dynamic: mapping.dynamic, date_detection: mapping.date_detection },
        },
      },
    }),
    // Data stream fields every package declares (Fleet maps data_stream.* as constant_keyword).
    [`${dir}/fields/base-fields.yml`]: yml([
      { name: 'data_stream.type', type: 'constant_keyword', description: 'Data stream type.' },
      { name: 'data_stream.dataset', type: 'constant_keyword', description: 'Data stream dataset.' },
      { name: 'data_stream.namespace', type: 'constant_keyword', description: 'Data stream namespace.' },
      { name: '@timestamp', type: ts.type, description: 'Event timestamp.' },
    ]),
    [`${dir}/fields/fields.yml`]: yml(fieldsOf(rest)),
    [`${dir}/lifecycle.yml`]: yml({ data_retention: PACKAGE.defaultRetention }),
  };
}

const KIBANA_DIRS = { 'index-pattern': 'index_pattern', search: 'search', lens: 'lens', dashboard: 'dashboard' };

function kibanaFiles(ndjson) {
  const out = {};
  for (const line of ndjson.split('\n').filter(Boolean)) {
    const o = JSON.parse(line);
    const dir = KIBANA_DIRS[o.type];
    if (!dir) throw new Error(`no package folder for saved object type ${o.type}`);
    out[`kibana/${dir}/${o.id}.json`] = JSON.stringify(o, null, 2) + '\n';
  }
  return out;
}

/**
 * Every file of the package. `t` is src/sinks/elasticsearch/templates.ts (or
 * its build), `datasetTypes` routing.ts's DATASET_TYPES, `ndjson` the text of
 * deploy/kibana/droptrace.ndjson, `readme` the package's docs/README.md source.
 */
export function packageFiles({ t, datasetTypes, ndjson, readme }) {
  // The package's data streams are per dataset, so data_stream.* are
  // constant_keyword here (setup falls back to keyword only where the cluster lacks the type).
  const mapping = t.mappings({ constantKeyword: true });
  const settings = t.componentTemplates({ retention: PACKAGE.defaultRetention, constantKeyword: true })[t.COMPONENT_SETTINGS].template.settings;
  const files = {
    'manifest.yml': yml({
      format_version: PACKAGE.formatVersion,
      name: PACKAGE.name,
      title: PACKAGE.title,
      version: PACKAGE.version,
      description: 'Where the Linux kernel drops packets: which flow, which direction, which kernel function, and why (records written by droptrace run).',
      type: 'integration',
      categories: ['network', 'observability'],
      conditions: { kibana: { version: PACKAGE.kibanaVersion }, elastic: { subscription: 'basic' } },
      owner: { github: 'droptrace/droptrace', type: 'community' },
      source: { license: 'Apache-2.0' },
    }),
    'changelog.yml': yml([{ version: PACKAGE.version, changes: [{ description: 'First package: the data streams and Kibana assets `droptrace setup` installs.', type: 'enhancement', link: 'https://github.com/droptrace/droptrace/pull/1' }] }]),
    'LICENSE.txt': 'Apache License 2.0 — see https://www.apache.org/licenses/LICENSE-2.0\n',
    'docs/README.md': readme,
    // The dashboard embeds the same by-reference Lens panels `setup kibana` imports (one set of assets for both).
    'validation.yml': yml({ errors: { exclude_checks: ['SVR00004'] } }),
    ...kibanaFiles(ndjson),
  };
  for (const [dataset, type] of Object.entries(datasetTypes)) {
    if (!DESCRIPTIONS[dataset]) throw new Error(`no description for dataset ${dataset}`);
    Object.assign(files, dataStreamFiles(dataset, type, mapping, settings));
  }
  return files;
}

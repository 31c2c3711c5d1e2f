// deploy/elastic/droptrace/ (the Elastic integration package) is generated
// from the definitions `droptrace setup` installs: the committed tree must be
// exactly what they give today, its fields must map to the same types as the
// component template, and its Kibana objects must be the same objects.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import * as templates from '../../src/sinks/elasticsearch/templates.js';
import { DATASET_TYPES } from '../../src/sinks/elasticsearch/routing.js';
import { REPO } from '../helpers/droptrace-process.js';
// @ts-expect-error plain ESM module without types (generate.mjs runs it with node)
import { packageFiles, propertiesOf } from '../../deploy/elastic/package.mjs';

const PKG = join(REPO, 'deploy/elastic/droptrace');
const files = packageFiles({
  t: templates,
  datasetTypes: DATASET_TYPES,
  ndjson: readFileSync(join(REPO, 'deploy/kibana/droptrace.ndjson'), 'utf8'),
  readme: readFileSync(join(REPO, 'deploy/elastic/package-readme.md'), 'utf8'),
}) as Record<string, string>;

function tree(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? tree(join(dir, f)) : [join(dir, f)]));
}

describe('Elastic integration package', () => {
  it('the committed package is exactly what the setup definitions generate (run `node deploy/elastic/generate.mjs` after changing them)', () => {
    const onDisk = tree(PKG).map((f) => relative(PKG, f)).sort();
    expect(onDisk).toEqual(Object.keys(files).sort());
    for (const [rel, text] of Object.entries(files)) expect(readFileSync(join(PKG, rel), 'utf8'), rel).toBe(text);
  });

  it('one data stream per dataset droptrace writes, with the type routing gives it', () => {
    for (const [dataset, type] of Object.entries(DATASET_TYPES)) {
      const m = parse(files[`data_stream/${dataset.replace('droptrace.', '')}/manifest.yml`]);
      expect(m).toMatchObject({ dataset, type });
    }
  });

  it('every field maps to the type of setup’s component template', () => {
    const want = templates.flattenMapping(templates.mappings({ constantKeyword: true }) as { properties: Record<string, unknown> });
    for (const ds of Object.keys(DATASET_TYPES).map((d) => d.replace('droptrace.', ''))) {
      const fields = [...parse(files[`data_stream/${ds}/fields/base-fields.yml`]), ...parse(files[`data_stream/${ds}/fields/fields.yml`])];
      expect(templates.flattenMapping({ properties: propertiesOf(fields) }), ds).toEqual(want);
    }
  });

  it('the Kibana objects are the ones `setup kibana` imports', () => {
    const objs = readFileSync(join(REPO, 'deploy/kibana/droptrace.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const inPkg = Object.entries(files).filter(([k]) => k.startsWith('kibana/')).map(([, v]) => JSON.parse(v));
    expect(inPkg).toHaveLength(objs.length);
    for (const o of objs) expect(inPkg).toContainEqual(o);
  });
});

#!/usr/bin/env node
// Writes deploy/elastic/droptrace/ (an Elastic integration package) from the
// definitions `droptrace setup` uses. Needs the build (npm run build):
//   node deploy/elastic/generate.mjs
// then commit the tree; test/deploy/elastic-package.test.ts fails when it is stale.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageFiles } from './package.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const t = await import(join(repo, 'dist/sinks/elasticsearch/templates.js'));
const { DATASET_TYPES } = await import(join(repo, 'dist/sinks/elasticsearch/routing.js'));
const files = packageFiles({
  t,
  datasetTypes: DATASET_TYPES,
  ndjson: readFileSync(join(repo, 'deploy/kibana/droptrace.ndjson'), 'utf8'),
  readme: readFileSync(join(here, 'package-readme.md'), 'utf8'),
});
const out = join(here, 'droptrace');
rmSync(out, { recursive: true, force: true });
for (const [rel, text] of Object.entries(files)) {
  mkdirSync(dirname(join(out, rel)), { recursive: true });
  writeFileSync(join(out, rel), text);
}
process.stderr.write(`wrote ${Object.keys(files).length} files to ${out}\n`);

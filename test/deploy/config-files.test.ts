// The configuration files shipped for each way of running droptrace load
// cleanly with droptrace's own loader (the same code `droptrace run` uses):
// the systemd default, the image's default and the Kubernetes ConfigMap.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfigWithSources } from '../../src/cli/options.js';
import { REPO } from '../helpers/droptrace-process.js';

const load = (text: string) => loadConfigWithSources({ argv: { config: '/etc/droptrace/droptrace.yaml' }, env: {}, readFile: () => text });

describe('shipped configuration files', () => {
  it('deploy/systemd/droptrace.yaml: bpftrace left to the default choice, records under /var/log/droptrace', () => {
    const { config, sources } = load(readFileSync(join(REPO, 'deploy/systemd/droptrace.yaml'), 'utf8'));
    expect(config.bpftrace).toBeUndefined();
    expect(config['output-dir']).toBe('/var/log/droptrace');
    expect(sources['output-dir']).toBe('file');
  });

  it('deploy/container/droptrace.yaml: the image’s own bpftrace (none named), records under /var/log/droptrace', () => {
    const { config } = load(readFileSync(join(REPO, 'deploy/container/droptrace.yaml'), 'utf8'));
    expect(config.bpftrace).toBeUndefined();
    expect(config['output-dir']).toBe('/var/log/droptrace');
  });

  it('the Kubernetes ConfigMap: Elasticsearch with credentials from the mounted Secret', () => {
    const cm = parse(readFileSync(join(REPO, 'deploy/kubernetes/configmap.yaml'), 'utf8'));
    const { config } = load(cm.data['droptrace.yaml']);
    expect(config['es-url']).toMatch(/^https:\/\//);
    expect(config['es-api-key-file']).toBe('/etc/droptrace/secrets/es-api-key');
    expect(config['output-dir']).toBe('/var/log/droptrace');
  });

  it('a broken file is refused with the key named (what the service and the pod log)', () => {
    expect(() => load('interval: soon\n')).toThrow(/interval/);
  });
});

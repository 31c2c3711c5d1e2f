// What `droptrace setup elasticsearch` installs: component templates with an
// explicit ECS-compatible mapping for every field droptrace writes, index
// templates for logs-droptrace.*-* and metrics-droptrace.*-* (priority above
// the built-in logs-*-* / metrics-*-* at 100), a data stream lifecycle for
// retention (works where ILM is absent, e.g. the integ-test distribution),
// and the data streams of one namespace. Pure builders here; the calls to
// the cluster are in setup-elasticsearch.ts.

export const TEMPLATE_VERSION = 2;
export const TEMPLATE_PRIORITY = 200;
export const COMPONENT_SETTINGS = 'droptrace@settings';
export const COMPONENT_MAPPINGS = 'droptrace@mappings';

export interface TemplateOptions {
  /** Data stream lifecycle retention, e.g. "30d". */
  retention: string;
  /** constant_keyword for data_stream.* (needs the constant-keyword plugin; default distributions have it). */
  constantKeyword: boolean;
}

type Field = Record<string, unknown>;
const kw: Field = { type: 'keyword', ignore_above: 1024 };
const long: Field = { type: 'long' };
const date: Field = { type: 'date' };
const bool: Field = { type: 'boolean' };
const double: Field = { type: 'double' };
const ip: Field = { type: 'ip' };

const iface = { properties: { id: kw, name: kw } };

/** droptrace.* fields (see src/enrich/enricher.ts, src/aggregate/*, src/session/trace-session.ts, src/cli/commands/run.ts). */
function droptraceProperties(): Record<string, Field> {
  return {
    id: kw,
    path: kw,
    count: long,
    bytes: long,
    segments: long,
    ethertype: long,
    netns: { properties: { inode: long } },
    drop: {
      properties: {
        reason_code: long,
        location: { properties: { address: kw, symbol: kw, offset: long, module: kw } },
      },
    },
    tcp: { properties: { flags: kw, state: kw, ca_state: kw, retransmits: long } },
    icmp: { properties: { type: long, code: long } },
    retransmit: { properties: { type: kw, tlp_source: kw } },
    incoming: { properties: { seq: long, rcv_nxt: long } },
    flow: {
      properties: {
        id: kw, key: kw, final: bool, end_reason: kw, total_count: long, total_bytes: long, total_segments: long, first_seen: date, last_seen: date,
      },
    },
    // start_ns is a 64-bit monotonic count: above 2^53, so a keyword, not a number.
    window: { properties: { interval_s: long, start_ns: kw, final: bool } },
    overflow: { properties: { kernel_count: long, collector_count: long, collector_flows: long, unattributed_count: long } },
    lost: { properties: { count: long } },
    gap: { properties: { start: date, end: date, duration_ms: long, cause: kw, restarts: long } },
    stats: {
      properties: {
        final: bool,
        lines_in: long, events_in: long, undecodable: long, lost: long, suppressed: long, windows: long,
        flow_records: long, overflowed: long, restarts: long, gaps: long, records_out: long, coverage_errors: long,
        // Per-sink counters (sinks.<name>.<counter>): numbers via the dynamic templates.
        sinks: { type: 'object', dynamic: true },
      },
    },
    // coverage.<signal>.{counter,kernel,traced,ratio}: signals vary by kernel.
    coverage: { type: 'object', dynamic: true },
    // droptrace.counters and droptrace.findings (src/diagnose). Evidence values
    // are numbers or text: one keyword field takes both.
    counter: {
      properties: {
        name: kw, source: kw, netns: long, interface: kw, qdisc: kw, value: long, delta: long, rate: double, baseline: double,
        storm: bool, floor: double, score: double, meaning: kw, cause: kw,
      },
    },
    finding: {
      properties: {
        cause: kw, severity: kw, impact: double, lost: long, summary: kw, explanation: { type: 'text' }, confidence: kw,
        flows: long, sources: long, source_ports: long, window_s: double, reasons: kw, noise: bool, check: kw,
        evidence: { properties: { kind: kw, name: kw, value: kw, delta: double, rate: double, detail: kw } },
        fix: { properties: { change: kw, caveat: kw } },
      },
    },
  };
}

export function mappings(o: Pick<TemplateOptions, 'constantKeyword'>): Record<string, unknown> {
  const constant: Field = o.constantKeyword ? { type: 'constant_keyword' } : kw;
  return {
    // Unknown top-level fields stay in _source but are not indexed: a typo
    // elsewhere can never explode the mapping. droptrace.* is dynamic, with
    // the templates below, so a field added later is still searchable.
    dynamic: false,
    date_detection: false,
    dynamic_templates: [
      { droptrace_ratios: { path_match: 'droptrace.coverage.*.ratio', mapping: double } },
      { droptrace_strings: { path_match: 'droptrace.*', match_mapping_type: 'string', mapping: kw } },
      { droptrace_longs: { path_match: 'droptrace.*', match_mapping_type: 'long', mapping: long } },
      { droptrace_doubles: { path_match: 'droptrace.*', match_mapping_type: 'double', mapping: double } },
      { droptrace_booleans: { path_match: 'droptrace.*', match_mapping_type: 'boolean', mapping: bool } },
    ],
    properties: {
      '@timestamp': date,
      data_stream: { properties: { type: constant, dataset: constant, namespace: constant } },
      ecs: { properties: { version: kw } },
      event: {
        properties: {
          kind: kw, category: kw, type: kw, action: kw, dataset: kw, reason: kw, outcome: kw, start: date, end: date, severity: long,
        },
      },
      message: { type: 'text' },
      rule: { properties: { ruleset: kw, category: kw, id: kw, name: kw, description: kw } },
      network: { properties: { type: kw, transport: kw, iana_number: kw, direction: kw } },
      source: { properties: { ip, port: long } },
      destination: { properties: { ip, port: long } },
      host: { properties: { name: kw } },
      observer: { properties: { type: kw, ingress: { properties: { interface: iface } }, egress: { properties: { interface: iface } } } },
      // The capture file of `droptrace pcap` records.
      file: { properties: { path: kw } },
      droptrace: { type: 'object', dynamic: true, properties: droptraceProperties() },
    },
  };
}

const META = { managed_by: 'droptrace', version: TEMPLATE_VERSION, description: 'droptrace: where the kernel drops packets' };

export function componentTemplates(o: TemplateOptions): Record<string, Record<string, unknown>> {
  return {
    [COMPONENT_SETTINGS]: {
      template: {
        settings: {
          // One replica when there is a second node, none on a single node (no yellow forever).
          'index.auto_expand_replicas': '0-1',
          'index.mapping.total_fields.limit': 2000,
        },
      },
      _meta: META,
    },
    [COMPONENT_MAPPINGS]: { template: { mappings: mappings(o) }, _meta: META },
  };
}

export interface IndexTemplateSpec {
  name: string;
  type: 'logs' | 'metrics';
}

export const INDEX_TEMPLATES: IndexTemplateSpec[] = [
  { name: 'logs-droptrace', type: 'logs' },
  { name: 'metrics-droptrace', type: 'metrics' },
];

export function indexTemplate(spec: IndexTemplateSpec, o: TemplateOptions): Record<string, unknown> {
  return {
    index_patterns: [`${spec.type}-droptrace.*-*`],
    data_stream: {},
    priority: TEMPLATE_PRIORITY,
    composed_of: [COMPONENT_SETTINGS, COMPONENT_MAPPINGS, `${spec.name}@custom`],
    // An operator's own overrides go in <name>@custom, like Elastic's integrations.
    ignore_missing_component_templates: [`${spec.name}@custom`],
    template: { lifecycle: { data_retention: o.retention } },
    _meta: META,
  };
}

/** The data streams `setup` creates for a namespace. */
export function dataStreamNames(namespace: string): string[] {
  return [
    `logs-droptrace.drops-${namespace}`,
    `logs-droptrace.retransmits-${namespace}`,
    `metrics-droptrace.flows-${namespace}`,
    `metrics-droptrace.stats-${namespace}`,
    `metrics-droptrace.counters-${namespace}`,
    `logs-droptrace.findings-${namespace}`,
  ];
}

/** Flatten a mapping to { "a.b.c": type } (for checks and tests). */
export function flattenMapping(m: { properties?: Record<string, unknown> }, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.properties ?? {})) {
    const f = v as { type?: string; properties?: Record<string, unknown> };
    const path = prefix + k;
    if (f.properties) Object.assign(out, flattenMapping(f, path + '.'));
    else if (f.type && f.type !== 'object') out[path] = f.type;
  }
  return out;
}

export function validateRetention(r: string): string {
  if (!/^[1-9][0-9]*(d|h|m|s)$/.test(r)) throw new Error(`retention must look like 30d, 12h…, got ${JSON.stringify(r)}`);
  return r;
}

#!/usr/bin/env node
// Writes droptrace.ndjson (Kibana saved objects) next to this file.
// Edit the panels here, run `node deploy/kibana/generate.mjs`, commit both.
// Fixed ids so a re-import overwrites; migration versions of Kibana 8.8+/8.9
// so any later Kibana migrates the objects forward on import.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CORE = '8.8.0';
const V = { 'index-pattern': '8.0.0', search: '8.0.0', lens: '8.9.0', dashboard: '8.9.0' };

const dataViews = [
  { id: 'droptrace-dv-events', title: 'logs-droptrace.*', name: 'droptrace events (drops, retransmits, incoming loss)' },
  { id: 'droptrace-dv-flows', title: 'metrics-droptrace.flows-*', name: 'droptrace flows (per-window counts)' },
  { id: 'droptrace-dv-stats', title: 'metrics-droptrace.stats-*', name: 'droptrace self-stats' },
];

const obj = (type, id, attributes, references = []) => ({
  id, type, attributes, references, coreMigrationVersion: CORE, typeMigrationVersion: V[type], managed: false,
});

const indexPattern = (d) => obj('index-pattern', d.id, {
  title: d.title, name: d.name, timeFieldName: '@timestamp', fields: '[]', fieldAttrs: '{}', runtimeFieldMap: '{}', typeMeta: '{}', allowNoIndex: true,
});

const search = (id, title, description, dv, query, columns) => obj('search', id, {
  title, description, columns, sort: [['@timestamp', 'desc']], hits: 0, version: 1,
  kibanaSavedObjectMeta: {
    searchSourceJSON: JSON.stringify({ query: { query, language: 'kuery' }, filter: [], indexRefName: 'kibanaSavedObjectMeta.searchSourceJSON.index' }),
  },
}, [{ id: dv, name: 'kibanaSavedObjectMeta.searchSourceJSON.index', type: 'index-pattern' }]);

// --- Lens building blocks -------------------------------------------------------
const dateHistogram = () => ({
  label: '@timestamp', dataType: 'date', operationType: 'date_histogram', sourceField: '@timestamp', isBucketed: true, scale: 'interval',
  params: { interval: 'auto', includeEmptyRows: true, dropPartials: false },
});
const terms = (field, size, orderBy, label, secondaryFields) => ({
  label: label ?? `Top ${size} values of ${field}`, customLabel: !!label, dataType: field.endsWith('.ip') ? 'ip' : 'string', operationType: 'terms', scale: 'ordinal',
  sourceField: field, isBucketed: true,
  params: {
    size, orderBy: { type: 'column', columnId: orderBy }, orderDirection: 'desc', otherBucket: false, missingBucket: false,
    parentFormat: { id: secondaryFields ? 'multi_terms' : 'terms' }, ...(secondaryFields ? { secondaryFields } : {}),
  },
});
const metric = (op, field, label, filter) => ({
  label, customLabel: true, dataType: 'number', operationType: op, sourceField: field, isBucketed: false, scale: 'ratio',
  ...(filter ? { filter: { query: filter, language: 'kuery' } } : {}), params: { emptyAsNull: true },
});
const layer = (columns) => ({ columns, columnOrder: Object.keys(columns), incompleteColumns: {} });

const lens = (id, title, description, visualizationType, layers, visualization) => obj('lens', id, {
  title, description, visualizationType,
  state: {
    visualization, query: { query: '', language: 'kuery' }, filters: [],
    datasourceStates: { formBased: { layers: Object.fromEntries(Object.entries(layers).map(([k, v]) => [k, layer(v.columns)])) } },
    internalReferences: [], adHocDataViews: {},
  },
}, Object.entries(layers).map(([k, v]) => ({ type: 'index-pattern', id: v.dataView, name: `indexpattern-datasource-layer-${k}` })));

const DROPPED = 'event.action : "packet-dropped"';
const COUNT = 'droptrace.count';

const lensObjects = [
  lens('droptrace-lens-drops-over-time', 'Drops over time by reason', 'Packets the kernel dropped (sum of droptrace.count over flow windows), split by drop reason.', 'lnsXY',
    { l1: { dataView: 'droptrace-dv-flows', columns: { time: dateHistogram(), reason: terms('event.reason', 10, 'count'), count: metric('sum', COUNT, 'Packets dropped', DROPPED) } } },
    {
      legend: { isVisible: true, position: 'right' }, valueLabels: 'hide', preferredSeriesType: 'bar_stacked',
      layers: [{ layerId: 'l1', layerType: 'data', seriesType: 'bar_stacked', xAccessor: 'time', splitAccessor: 'reason', accessors: ['count'] }],
    }),
  lens('droptrace-lens-top-flows', 'Top flows by loss', 'Flows (source, destination, transport) with the most lost packets: drops, retransmits and incoming loss.', 'lnsDatatable',
    { l1: { dataView: 'droptrace-dv-flows', columns: { flow: terms('source.ip', 20, 'count', 'Flow', ['source.port', 'destination.ip', 'destination.port', 'network.transport']), count: metric('sum', COUNT, 'Packets lost') } } },
    { layerId: 'l1', layerType: 'data', columns: [{ columnId: 'flow' }, { columnId: 'count' }], sorting: { columnId: 'count', direction: 'desc' } }),
  lens('droptrace-lens-loss-by-direction', 'Loss by direction', 'Lost packets by network.direction (ingress: came in from a device, forwarded included; egress: generated here).', 'lnsPie',
    { l1: { dataView: 'droptrace-dv-flows', columns: { direction: terms('network.direction', 5, 'count'), count: metric('sum', COUNT, 'Packets lost') } } },
    { shape: 'donut', layers: [{ layerId: 'l1', layerType: 'data', primaryGroups: ['direction'], metrics: ['count'], numberDisplay: 'percent', categoryDisplay: 'default', legendDisplay: 'default', nestedLegend: false }] }),
  lens('droptrace-lens-top-locations', 'Top drop locations', 'Kernel functions where packets were freed as dropped (droptrace.drop.location.symbol).', 'lnsXY',
    { l1: { dataView: 'droptrace-dv-flows', columns: { symbol: terms('droptrace.drop.location.symbol', 15, 'count'), count: metric('sum', COUNT, 'Packets dropped', DROPPED) } } },
    {
      legend: { isVisible: false, position: 'right' }, valueLabels: 'show', preferredSeriesType: 'bar_horizontal',
      layers: [{ layerId: 'l1', layerType: 'data', seriesType: 'bar_horizontal', xAccessor: 'symbol', accessors: ['count'] }],
    }),
  lens('droptrace-lens-lost-suppressed', 'Lost and suppressed events', 'Events the tracer could not deliver: lost in the perf buffer (droptrace.lost.count) and suppressed by the in-kernel rate limit (droptrace.stats.suppressed, cumulative per run).', 'lnsXY',
    {
      lost: { dataView: 'droptrace-dv-events', columns: { time: dateHistogram(), lost: metric('sum', 'droptrace.lost.count', 'Events lost', 'event.action : "events-lost"') } },
      suppressed: { dataView: 'droptrace-dv-stats', columns: { time: dateHistogram(), suppressed: metric('max', 'droptrace.stats.suppressed', 'Events suppressed (cumulative)', 'event.action : "self-stats"') } },
    },
    {
      legend: { isVisible: true, position: 'bottom' }, valueLabels: 'hide', preferredSeriesType: 'line',
      layers: [
        { layerId: 'lost', layerType: 'data', seriesType: 'bar', xAccessor: 'time', accessors: ['lost'] },
        { layerId: 'suppressed', layerType: 'data', seriesType: 'line', xAccessor: 'time', accessors: ['suppressed'] },
      ],
    }),
];

const searches = [
  search('droptrace-search-drops-by-reason', 'Drops by reason', 'Each dropped packet (per-event records), newest first; add event.reason as a filter to narrow.', 'droptrace-dv-events',
    'event.dataset : "droptrace.drops" and event.action : "packet-dropped"',
    ['event.reason', 'network.direction', 'source.ip', 'source.port', 'destination.ip', 'destination.port', 'network.transport', 'droptrace.drop.location.symbol', 'observer.ingress.interface.name']),
  search('droptrace-search-retransmits', 'Retransmits', 'TCP retransmits and loss probes sent by this host (loss on the way out).', 'droptrace-dv-events',
    'event.dataset : "droptrace.retransmits" and event.action : ("tcp-retransmit" or "tcp-loss-probe")',
    ['event.action', 'droptrace.retransmit.type', 'source.ip', 'source.port', 'destination.ip', 'destination.port', 'droptrace.tcp.state']),
  search('droptrace-search-incoming-loss', 'Incoming loss', 'Out-of-order and hole-filling segments received: loss on the path toward this host.', 'droptrace-dv-events',
    'event.action : tcp-incoming-*',
    ['event.action', 'source.ip', 'source.port', 'destination.ip', 'destination.port', 'droptrace.incoming.seq', 'droptrace.incoming.rcv_nxt']),
];

const panels = [
  ['droptrace-lens-drops-over-time', 'lens', 0, 0, 32, 15],
  ['droptrace-lens-loss-by-direction', 'lens', 32, 0, 16, 15],
  ['droptrace-lens-top-flows', 'lens', 0, 15, 24, 15],
  ['droptrace-lens-top-locations', 'lens', 24, 15, 24, 15],
  ['droptrace-lens-lost-suppressed', 'lens', 0, 30, 48, 12],
  ['droptrace-search-drops-by-reason', 'search', 0, 42, 48, 15],
  ['droptrace-search-retransmits', 'search', 0, 57, 24, 15],
  ['droptrace-search-incoming-loss', 'search', 24, 57, 24, 15],
];

const dashboard = obj('dashboard', 'droptrace-dashboard', {
  title: 'droptrace: where the kernel drops packets',
  description: 'Drops by reason over time, lossiest flows, loss by direction, drop locations, tracer losses. Data: logs-droptrace.*, metrics-droptrace.*.',
  panelsJSON: JSON.stringify(panels.map(([, type, x, y, w, h], i) => ({
    version: '8.9.0', type, gridData: { x, y, w, h, i: `p${i}` }, panelIndex: `p${i}`, embeddableConfig: { enhancements: {} }, panelRefName: `panel_p${i}`,
  }))),
  optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, syncCursor: true, syncTooltips: false, hidePanelTitles: false }),
  timeRestore: true, timeFrom: 'now-24h', timeTo: 'now', refreshInterval: { pause: false, value: 60000 },
  version: 1,
  kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [] }) },
}, panels.map(([id, type], i) => ({ name: `p${i}:panel_p${i}`, type, id })));

const all = [...dataViews.map(indexPattern), ...searches, ...lensObjects, dashboard];
const out = fileURLToPath(new URL('./droptrace.ndjson', import.meta.url));
writeFileSync(out, all.map((o) => JSON.stringify(o)).join('\n') + '\n');
console.log(`wrote ${all.length} saved objects to ${out}`);

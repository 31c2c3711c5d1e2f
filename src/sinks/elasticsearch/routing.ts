// Which data stream a record goes to, and the bulk item built from it.
// Named like Elastic's own integrations: <type>-<dataset>-<namespace>.
import { createHash } from 'node:crypto';
import type { EcsRecord } from '../../record/ecs.js';

export interface DataStream {
  type: 'logs' | 'metrics';
  dataset: string;
  namespace: string;
}

/** Per-event records are logs; window aggregates and self-stats are metrics. */
export const DATASET_TYPES: Readonly<Record<string, DataStream['type']>> = {
  'droptrace.drops': 'logs',
  'droptrace.retransmits': 'logs',
  'droptrace.flows': 'metrics',
  'droptrace.stats': 'metrics',
  'droptrace.counters': 'metrics',
  'droptrace.findings': 'logs',
};

export function dataStreamOf(dataset: string, namespace: string): DataStream {
  const known = DATASET_TYPES[dataset];
  if (known) return { type: known, dataset, namespace };
  // A dataset added later still lands in a valid, droptrace-owned stream.
  const safe = dataset.toLowerCase().replace(/[^a-z0-9_.]/g, '_');
  return { type: 'logs', dataset: safe.startsWith('droptrace.') ? safe : `droptrace.${safe}`, namespace };
}

export function dataStreamName(ds: DataStream): string {
  return `${ds.type}-${ds.dataset}-${ds.namespace}`;
}

/** One bulk `create`: target, deterministic id, serialized document. */
export interface BulkItem {
  index: string;
  id: string;
  /** The document as JSON (serialized once: for the request and the spool). */
  body: string;
}

export function toBulkItem(record: EcsRecord, namespace: string): BulkItem {
  const ds = dataStreamOf(record.event?.dataset ?? 'droptrace.unknown', namespace);
  const body = JSON.stringify({ ...record, data_stream: ds });
  // A record without an id still gets a deterministic one, so a resend of
  // the same content cannot duplicate.
  const id = typeof record.droptrace?.id === 'string' && record.droptrace.id ? record.droptrace.id : contentId(body);
  return { index: dataStreamName(ds), id, body };
}

export function contentId(body: string): string {
  return 'sha1-' + createHash('sha1').update(body).digest('base64url');
}

export function bulkLines(items: readonly BulkItem[]): string {
  let s = '';
  for (const it of items) s += `{"create":{"_index":${JSON.stringify(it.index)},"_id":${JSON.stringify(it.id)}}}\n${it.body}\n`;
  return s;
}

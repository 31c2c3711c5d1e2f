// One attempt at shipping a batch: a `_bulk` of `create`s, then each item's
// status through the item policy. 413 (request too large) splits the batch
// in halves; a single document that is still too large is dead-lettered.
import { errors, type Client } from '@elastic/elasticsearch';
import { bulkLines, type BulkItem } from './routing.js';
import { itemOutcome, requestOutcome } from './item-policy.js';

export interface ItemStatus {
  status: number;
  error?: { type?: string; reason?: string };
}

export type BulkHttpResult =
  | { kind: 'response'; status: number; items: ItemStatus[] }
  | { kind: 'http-error'; status: number; reason: string }
  | { kind: 'unreachable'; reason: string };

/** The wire: send an NDJSON `_bulk` body, get statuses back. Injectable for unit tests. */
export interface BulkTransport {
  bulk(body: string, signal?: AbortSignal): Promise<BulkHttpResult>;
}

export interface DeadItem {
  item: BulkItem;
  status: number;
  type?: string;
  reason: string;
}

export interface AttemptResult {
  acked: number;
  duplicate: number;
  dead: DeadItem[];
  retry: BulkItem[];
  /** Why items are to be retried (the last request-level or item-level cause). */
  retryReason?: string;
  requests: number;
}

export async function shipOnce(items: BulkItem[], t: BulkTransport, signal?: AbortSignal): Promise<AttemptResult> {
  const out: AttemptResult = { acked: 0, duplicate: 0, dead: [], retry: [], requests: 0 };
  await ship(items, t, signal, out);
  return out;
}

async function ship(items: BulkItem[], t: BulkTransport, signal: AbortSignal | undefined, out: AttemptResult): Promise<void> {
  if (items.length === 0) return;
  out.requests++;
  const r = await t.bulk(bulkLines(items), signal);
  if (r.kind === 'unreachable') {
    out.retry.push(...items);
    out.retryReason = r.reason;
    return;
  }
  const how = requestOutcome(r.status);
  if (r.kind === 'http-error' || how !== 'items') {
    const reason = r.kind === 'http-error' ? r.reason : `HTTP ${r.status}`;
    if (how === 'split') {
      if (items.length === 1) {
        out.dead.push({ item: items[0], status: 413, type: 'request_entity_too_large', reason: 'document larger than the cluster accepts in one request' });
        return;
      }
      const half = Math.ceil(items.length / 2);
      await ship(items.slice(0, half), t, signal, out);
      await ship(items.slice(half), t, signal, out);
      return;
    }
    if (how === 'dead-letter') {
      for (const item of items) out.dead.push({ item, status: r.status, reason: `bulk request refused: ${reason}` });
      return;
    }
    out.retry.push(...items);
    out.retryReason = `HTTP ${r.status}: ${reason}`;
    return;
  }
  if (r.items.length !== items.length) {
    // Never guess which item a status belongs to: resend all (ids make it safe).
    out.retry.push(...items);
    out.retryReason = `bulk response has ${r.items.length} items for ${items.length} sent`;
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const s = r.items[i];
    switch (itemOutcome(s.status)) {
      case 'acked':
        out.acked++;
        break;
      case 'duplicate':
        out.duplicate++;
        break;
      case 'retry':
        out.retry.push(items[i]);
        out.retryReason = `item ${s.status}: ${s.error?.type ?? ''} ${s.error?.reason ?? ''}`.trim();
        break;
      case 'dead-letter':
        out.dead.push({ item: items[i], status: s.status, type: s.error?.type, reason: s.error?.reason ?? `status ${s.status}` });
        break;
    }
  }
}

/** The real wire, through the official client (TLS, auth, product check). */
export function clientTransport(client: Client, requestTimeoutMs = 30_000): BulkTransport {
  return {
    async bulk(body, signal) {
      try {
        const res = await client.transport.request<{ items?: Array<Record<string, ItemStatus>> }>(
          // filter_path keeps responses small: only what the item policy reads.
          { method: 'POST', path: '/_bulk', querystring: { filter_path: 'errors,items.*.status,items.*.error.type,items.*.error.reason' }, bulkBody: body },
          { signal, maxRetries: 0, requestTimeout: requestTimeoutMs, meta: true },
        );
        const items = (res.body.items ?? []).map((it) => Object.values(it)[0] ?? { status: 0 });
        return { kind: 'response', status: res.statusCode ?? 200, items };
      } catch (e) {
        if (e instanceof errors.ResponseError) {
          const status = e.meta.statusCode ?? 0;
          if (status > 0) return { kind: 'http-error', status, reason: shortReason(e) };
        }
        return { kind: 'unreachable', reason: (e as Error)?.message ?? String(e) };
      }
    },
  };
}

function shortReason(e: InstanceType<typeof errors.ResponseError>): string {
  const b = e.meta.body as { error?: { type?: string; reason?: string } | string } | string | undefined;
  if (b && typeof b === 'object' && b.error) return typeof b.error === 'string' ? b.error : `${b.error.type ?? ''}: ${b.error.reason ?? ''}`;
  return typeof b === 'string' ? b.slice(0, 200) : e.message.slice(0, 200);
}

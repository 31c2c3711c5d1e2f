// The Elasticsearch sink: records → bulk `create`s into data streams.
//
//   write() → memory FIFO ──(batch size or timer)──▶ one bulk request in flight
//                 │                                      │ 2xx acked · 409 duplicate
//                 │ full, or Elasticsearch down/slow      │ other 4xx → dead-letter file
//                 ▼                                      │ 429/5xx/unreachable → retry, backoff 1 s → 60 s
//              disk spool (bounded, ordered) ──replay────┘
//
// Order: the spool holds older records than memory, so the spool is always
// shipped first; a batch in flight stays at the head until resolved.
// Accounting: every record ends in exactly one of acked, duplicate,
// dead_lettered (refused and in the dead-letter file), dead_letter_failed
// (refused, and the dead-letter file could not take it), dropped_by_policy;
// until then it is pending (memory or in flight) or spooled. At any time:
//   received + replayed_in = acked + duplicate + dead_lettered + dead_letter_failed + dropped_by_policy + spool_corrupt + pending + spooled
import type { Client } from '@elastic/elasticsearch';
import type { EcsRecord } from '../../record/ecs.js';
import type { Sink } from '../sink.js';
import { SinkError } from '../../errors.js';
import type { EsConnection } from './options.js';
import { validateNamespace, DEFAULT_NAMESPACE } from './options.js';
import { buildClient, probeConnection } from './client.js';
import { shipOnce, clientTransport, type BulkTransport, type DeadItem } from './bulk-sender.js';
import { toBulkItem, type BulkItem } from './routing.js';
import { Spool } from './spool.js';
import { Fifo } from './fifo.js';
import { DeadLetterFile } from './dead-letter.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { join } from 'node:path';

export interface ElasticsearchSinkOptions extends EsConnection {
  namespace?: string;
  spoolDir: string;
  /** Spool size limit (default 512 MiB); beyond it the oldest segments are dropped. */
  spoolMaxBytes?: number;
  spoolSegmentBytes?: number;
  /** Records per bulk request (default 1000). */
  batchSize?: number;
  /** Bytes per bulk request (default 8 MiB), well under http.max_content_length. */
  maxBatchBytes?: number;
  /** A partial batch is shipped this often (default 1000 ms). */
  flushIntervalMs?: number;
  /** Records held in memory before they spill to the spool (default 20000). */
  queueMax?: number;
  /** Default: <spoolDir>/dead-letter.ndjson */
  deadLetterPath?: string;
  /** close(): time to ship what is left before persisting it to the spool (default 10 s). */
  closeGraceMs?: number;
  requestTimeoutMs?: number;
  backoff?: BackoffOptions;
  log?: (message: string) => void;
  /** Replaces the wire (unit tests); skips the connection probe. */
  transport?: BulkTransport;
}

interface InFlight {
  source: 'memory' | 'spool';
  seq?: number;
  items: BulkItem[];
  /** Items of this batch already in a final state. */
  resolved: number;
}

export interface EsSinkCounters {
  received: number;
  replayed_in: number;
  acked: number;
  duplicate: number;
  dead_lettered: number;
  dead_letter_failed: number;
  dropped_by_policy: number;
  spool_corrupt: number;
  spilled: number;
  bulk_requests: number;
  retries: number;
  outages: number;
  spool_write_errors: number;
  dead_letter_write_errors: number;
}

export class ElasticsearchSink implements Sink {
  readonly name = 'elasticsearch';
  private readonly c: EsSinkCounters = {
    received: 0, replayed_in: 0, acked: 0, duplicate: 0, dead_lettered: 0, dead_letter_failed: 0, dropped_by_policy: 0, spool_corrupt: 0,
    spilled: 0, bulk_requests: 0, retries: 0, outages: 0, spool_write_errors: 0, dead_letter_write_errors: 0,
  };
  private readonly memory = new Fifo();
  private readonly spool: Spool;
  private readonly dead: DeadLetterFile;
  private readonly namespace: string;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly queueMax: number;
  private readonly log: (m: string) => void;
  private readonly abort = new AbortController();
  private inflight: InFlight | null = null;
  private outage: { since: number; reason: string } | null = null;
  private flushTick = false;
  private flushWaiters = 0;
  private closing = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private pumpDone: Promise<void> = Promise.resolve();
  private seenDeadTypes = new Set<string>();

  constructor(
    private readonly o: ElasticsearchSinkOptions,
    private readonly transport: BulkTransport,
    private readonly client?: Client,
  ) {
    this.namespace = validateNamespace(o.namespace ?? DEFAULT_NAMESPACE);
    this.batchSize = o.batchSize ?? 1000;
    this.maxBatchBytes = o.maxBatchBytes ?? 8 << 20;
    this.queueMax = Math.max(this.batchSize, o.queueMax ?? 20_000);
    this.log = o.log ?? (() => undefined);
    this.spool = new Spool({ dir: o.spoolDir, maxBytes: o.spoolMaxBytes ?? 512 << 20, segmentBytes: o.spoolSegmentBytes });
    this.dead = new DeadLetterFile({ path: o.deadLetterPath ?? join(o.spoolDir, 'dead-letter.ndjson') });
  }

  /** Open the spool (replaying what a previous run left) and start shipping. */
  start(reachable: { ok: true } | { ok: false; reason: string } = { ok: true }): void {
    try {
      this.c.replayed_in = this.spool.open();
    } catch (e) {
      if (e instanceof SinkError) throw e;
      throw new SinkError(`cannot use the spool directory ${this.o.spoolDir}: ${(e as Error).message}`);
    }
    if (this.c.replayed_in) this.log(`elasticsearch: ${this.c.replayed_in} records spooled by an earlier run; shipping them first`);
    if (!reachable.ok) {
      this.enterOutage(reachable.reason);
      this.log(`elasticsearch: ${this.o.url} is not reachable (${reachable.reason}); records go to the spool until it answers`);
    }
    this.timer = setInterval(() => this.onTick(), this.o.flushIntervalMs ?? 1000);
    this.timer.unref();
    this.pumpDone = this.pump().catch((e) => this.log(`elasticsearch: shipping stopped by a bug: ${(e as Error).stack ?? e}`));
  }

  write(record: EcsRecord): void {
    this.c.received++;
    if (this.closed || this.closing) {
      // Nothing can ship it any more; say so in the counts rather than lose it silently.
      this.c.dropped_by_policy++;
      return;
    }
    let item: BulkItem;
    try {
      item = toBulkItem(record, this.namespace);
    } catch (e) {
      this.deadLetter([{ item: { index: 'unserializable', id: String(record?.droptrace?.id ?? ''), body: '{}' }, status: 0, reason: `cannot serialize: ${(e as Error).message}` }]);
      return;
    }
    this.memory.push(item);
    if (this.memory.length >= this.queueMax || (this.outage && this.memory.length >= this.batchSize)) this.spillMemory();
    else if (this.memory.length >= this.batchSize) this.wake();
  }

  async flush(): Promise<void> {
    if (this.closed) return;
    if (!this.outage) {
      this.flushWaiters++;
      this.wake();
      await this.waitIdle(this.o.closeGraceMs ?? 10_000);
      this.flushWaiters--;
    }
    // Whatever could not ship now is made durable.
    if (this.memory.length) this.spillMemory();
    this.spool.sync();
  }

  async close(): Promise<void> {
    if (this.closed || this.closing) return this.pumpDone;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    this.wake();
    const grace = this.o.closeGraceMs ?? 10_000;
    // The grace timer is cancelled once shipping is done: a pending timer would keep the process alive for the whole grace.
    const graceTimer = new AbortController();
    const finished = await Promise.race([this.pumpDone.then(() => true), sleep(grace, graceTimer.signal).then(() => false)]);
    graceTimer.abort();
    if (!finished) {
      // Stop the request in flight and the backoff; what is left goes to disk.
      this.abort.abort();
      await this.pumpDone;
    }
    this.persistRest();
    this.spool.sync();
    this.closed = true;
    this.c.dead_letter_write_errors = this.dead.writeErrors;
    await this.client?.close().catch(() => undefined);
    const s = this.stats();
    this.log(`elasticsearch: closed: ${s.acked} acked, ${s.duplicate} duplicate, ${s.dead_lettered} dead-lettered, ${s.dead_letter_failed ? `${s.dead_letter_failed} refused and lost (dead-letter file unwritable), ` : ''}${s.dropped_by_policy} dropped by policy, ${s.spooled} left in the spool`);
  }

  stats(): Record<string, number> {
    const pending = this.memory.length + (this.inflight?.source === 'memory' ? this.inflight.items.length : 0);
    const spooled = this.spool.records - (this.inflight?.source === 'spool' ? this.inflight.resolved : 0);
    return {
      ...this.c,
      spool_corrupt: this.spool.corruptLines,
      dead_letter_write_errors: this.dead.writeErrors,
      pending,
      spooled,
      spool_bytes: this.spool.bytes,
      outage: this.outage ? 1 : 0,
    };
  }

  // --- shipping -------------------------------------------------------------

  private async pump(): Promise<void> {
    for (;;) {
      const batch = this.nextBatch();
      if (!batch) {
        this.notifyIdle();
        if (this.closing) return;
        await new Promise<void>((r) => (this.wakeUp = r));
        this.wakeUp = null;
        continue;
      }
      this.inflight = batch;
      if (batch.source === 'spool') this.spool.busySeq = batch.seq!;
      const done = await this.ship(batch);
      if (!done) return; // aborted by close(): persistRest() takes over the batch
      if (batch.source === 'spool') {
        this.spool.busySeq = null;
        this.spool.commit(batch.seq!, batch.resolved);
      }
      this.inflight = null;
      this.notifyIdle();
    }
  }

  private nextBatch(): InFlight | null {
    if (this.spool.records > 0) {
      const b = this.spool.peek(this.batchSize, this.maxBatchBytes);
      this.c.spool_corrupt = this.spool.corruptLines;
      if (b) return { source: 'spool', seq: b.seq, items: b.items, resolved: 0 };
    }
    if (this.memory.length === 0) return null;
    if (this.memory.length >= this.batchSize || this.flushTick || this.flushWaiters > 0 || this.closing) {
      const items = this.memory.take(this.batchSize, this.maxBatchBytes);
      if (this.memory.length === 0) this.flushTick = false;
      return { source: 'memory', items, resolved: 0 };
    }
    return null;
  }

  /** Ship until every item is resolved; false if close() aborted it. */
  private async ship(b: InFlight): Promise<boolean> {
    let attempt = 0;
    for (;;) {
      const r = await shipOnce(b.items, this.transport, this.abort.signal);
      this.c.bulk_requests += r.requests;
      this.c.acked += r.acked;
      this.c.duplicate += r.duplicate;
      if (r.dead.length) this.deadLetter(r.dead);
      b.resolved += b.items.length - r.retry.length;
      b.items = r.retry;
      if (b.items.length === 0) {
        if (this.outage) this.leaveOutage();
        return true;
      }
      if (this.abort.signal.aborted) return false;
      this.enterOutage(r.retryReason ?? 'retryable failure');
      // While Elasticsearch cannot keep up, memory goes to disk (bounded RAM).
      if (this.memory.length) this.spillMemory();
      this.notifyIdle();
      const delay = backoffDelay(attempt++, this.o.backoff);
      if (!(await sleep(delay, this.abort.signal))) return false;
      this.c.retries++;
    }
  }

  private deadLetter(items: DeadItem[]): void {
    const r = this.dead.write(items);
    if (r.ok) this.c.dead_lettered += items.length;
    else {
      // Say where the records really went: nowhere. The run's log limiter folds repeats.
      this.c.dead_letter_failed += items.length;
      this.log(`elasticsearch: cannot write the dead-letter file ${this.dead.path} (${r.reason}): ${items.length} refused records lost, counted as dead_letter_failed`);
    }
    for (const d of items) {
      const key = `${d.status}:${d.type ?? ''}:${r.ok}`;
      if (this.seenDeadTypes.has(key) || this.seenDeadTypes.size > 50) continue;
      this.seenDeadTypes.add(key);
      const where = r.ok ? `written to the dead-letter file ${this.dead.path}` : 'not written anywhere (see above)';
      this.log(`elasticsearch: refused ${d.item.index}/${d.item.id} (${d.status} ${d.type ?? ''}: ${d.reason}); ${where}; further ones only counted`);
    }
  }

  private enterOutage(reason: string): void {
    if (this.outage) {
      this.outage.reason = reason;
      return;
    }
    this.outage = { since: Date.now(), reason };
    this.c.outages++;
    this.log(`elasticsearch: cannot ship (${reason}); retrying with backoff, spooling to ${this.o.spoolDir}`);
  }

  private leaveOutage(): void {
    const s = Math.round((Date.now() - this.outage!.since) / 1000);
    this.outage = null;
    this.log(`elasticsearch: shipping again after ${s} s; ${this.spool.records} spooled records to replay`);
  }

  private spillMemory(): void {
    const items = this.memory.drain();
    if (!items.length) return;
    try {
      this.c.dropped_by_policy += this.spool.append(items);
      this.c.spilled += items.length;
      // An idle pump (e.g. started during an outage) must learn there is work on disk.
      this.wake();
    } catch (e) {
      this.c.spool_write_errors++;
      this.c.dropped_by_policy += items.length;
      this.log(`elasticsearch: cannot write the spool (${(e as Error).message}); ${items.length} records dropped`);
    }
  }

  /** After close() stopped shipping: the batch in flight and memory go to the spool, in order. */
  private persistRest(): void {
    const b = this.inflight;
    if (b && b.source === 'memory' && b.items.length) {
      const items = b.items;
      b.items = [];
      try {
        // Memory may have spilled behind this batch meanwhile: it goes in front.
        this.c.dropped_by_policy += this.spool.records > 0 ? this.spool.prepend(items) : this.spool.append(items);
        this.c.spilled += items.length;
      } catch (e) {
        this.c.spool_write_errors++;
        this.c.dropped_by_policy += items.length;
        this.log(`elasticsearch: cannot write the spool (${(e as Error).message}); ${items.length} records dropped`);
      }
    }
    this.spillMemory();
    if (b?.source === 'spool') {
      // Left uncommitted on disk; resolved ones are resent next time and come back as 409s.
      this.spool.busySeq = null;
    }
    this.inflight = b?.source === 'spool' ? b : null;
  }

  private onTick(): void {
    if (this.outage) {
      if (this.memory.length) this.spillMemory();
      return;
    }
    if (this.spool.records > 0) this.wake();
    if (this.memory.length) {
      this.flushTick = true;
      this.wake();
    }
  }

  private wake(): void {
    this.wakeUp?.();
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Until memory is empty and nothing from memory is in flight, or the outage starts, or ms pass. */
  private async waitIdle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && !this.outage && (this.memory.length > 0 || this.inflight?.source === 'memory')) {
      await Promise.race([new Promise<void>((r) => this.idleWaiters.push(r)), sleep(Math.min(200, deadline - Date.now()))]);
    }
  }
}

/**
 * Build the sink: checks TLS and credentials first (a SinkError for what no
 * retry can fix), opens the spool, starts shipping. An Elasticsearch that is
 * down at start is not an error: records wait in the spool.
 */
export async function createElasticsearchSink(o: ElasticsearchSinkOptions): Promise<ElasticsearchSink> {
  if (o.transport) {
    const sink = new ElasticsearchSink(o, o.transport);
    sink.start();
    return sink;
  }
  const client = buildClient(o);
  let reach;
  try {
    reach = await probeConnection(client, o);
  } catch (e) {
    await client.close().catch(() => undefined);
    throw e;
  }
  const sink = new ElasticsearchSink(o, clientTransport(client, o.requestTimeoutMs), client);
  sink.start(reach);
  return sink;
}

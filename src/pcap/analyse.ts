// Capture files → TCP analysis → flow records. Files of one run are
// consecutive parts of one capture: connection state carries from one file
// to the next (and, through a state file, from one run to the next: see
// state-file.ts), so a loss at a file boundary is neither missed nor invented.
//   openCapture (plain/gzip) → CaptureReader (pcap/pcapng framing) → decodeFrame
//   → Tracker (per connection and direction) → PcapFlowRecords → onRecord
import { createHash } from 'node:crypto';
import type { EcsRecord } from '../record/ecs.js';
import { openCapture } from './reader/chunks.js';
import { CaptureReader, type CaptureInterface, type DirHint, type PacketSink, type ReaderStats } from './reader/capture-reader.js';
import { decodeFrame, Segment, SKIP, SKIP_NAMES } from './decode/packet.js';
import { Tracker } from './analysis/tracker.js';
import type { Conn } from './analysis/connection.js';
import { PcapFlowRecords } from './records/flow-records.js';
import { CaptureError } from './errors.js';

export interface AnalyserOptions {
  hostName: string;
  intervalS: number;
  /** Connections tracked at once (evicted beyond, counted). */
  maxConnections: number;
  /** Flow records kept per window (the rest summed into overflow records). */
  maxRecords: number;
  onRecord: (r: EcsRecord) => void;
}

export interface FileReport {
  path: string;
  /** Capture content id: hash of the first packet (time and bytes). */
  fingerprint?: string;
  error?: CaptureError;
  /** Already analysed (fingerprint in the carried state): not analysed again. */
  duplicate?: boolean;
  gzip: boolean;
  reader: ReaderStats;
  tcpPackets: number;
  skipped: Record<string, number>;
  /** TCP packets whose options were cut by the snaplen. */
  optionsCut: number;
  firstTsUs?: number;
  lastTsUs?: number;
  records: number;
  connectionsNew: number;
}

export interface CarriedState {
  /** Capture time of the last packet of the previous file. */
  lastTsUs: number;
  conns: Conn[];
  /** Fingerprints of files already analysed. */
  seen: string[];
  /** Modification time of the newest file analysed (for catching up a rotation in order). */
  lastMtimeMs?: number;
  /** Paths of files already analysed (a run may find its file handled, and deleted, by an earlier one). */
  paths?: string[];
}

/** A carried state applies only to a file that starts after it ended (1 s of slack for timestamp jitter). */
const CARRY_SLACK_US = 1_000_000;

export class Analyser implements PacketSink {
  readonly tracker: Tracker;
  readonly records: PcapFlowRecords;
  private readonly seg = new Segment();
  private cur: FileReport | null = null;
  private carried: CarriedState | null = null;
  /** Set when the current file turns out to be a duplicate: stop reading it. */
  private stopFile = false;
  lastTsUs = -1;
  readonly seen: string[] = [];
  /** Capture time the carried state ended at (-1: none). */
  carriedTsUs = -1;

  constructor(private readonly o: AnalyserOptions) {
    this.records = new PcapFlowRecords({ hostName: o.hostName, intervalUs: o.intervalS * 1e6, maxRecords: o.maxRecords, onRecord: o.onRecord });
    this.tracker = new Tracker(this.records, o.maxConnections);
  }

  /** State carried from an earlier run (applied to the first file if it continues it). */
  carry(state: CarriedState): void {
    this.carried = state;
    this.carriedTsUs = state.lastTsUs;
    this.seen.push(...state.seen);
  }

  async file(path: string): Promise<FileReport> {
    const report: FileReport = { path, gzip: false, reader: emptyReader(), tcpPackets: 0, skipped: {}, optionsCut: 0, records: 0, connectionsNew: 0 };
    const reader = new CaptureReader(path, this);
    report.reader = reader.stats;
    this.cur = report;
    this.stopFile = false;
    const recordsBefore = this.records.records + this.records.overflowRecords;
    const connsBefore = this.tracker.stats.connections;
    try {
      const opened = await openCapture(path);
      report.gzip = opened.gzip;
      try {
        for await (const chunk of opened.chunks) {
          reader.push(chunk);
          if (this.stopFile) break;
        }
      } finally {
        // Closes the file even when we stopped early.
        await opened.chunks.return(undefined);
      }
      if (!this.stopFile) reader.end();
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
      report.error = e;
    } finally {
      if (!this.stopFile) this.records.flush();
      this.records.window = -1;
      this.cur = null;
    }
    if (report.fingerprint && !report.duplicate) this.seen.push(report.fingerprint);
    report.records = this.records.records + this.records.overflowRecords - recordsBefore;
    report.connectionsNew = this.tracker.stats.connections - connsBefore;
    return report;
  }

  packet(buf: Buffer, off: number, caplen: number, origlen: number, tsUs: number, iface: CaptureInterface, dir: DirHint): void {
    const r = this.cur!;
    if (this.stopFile) return;
    if (r.fingerprint === undefined) {
      if (!this.firstPacket(r, buf, off, caplen, tsUs, iface)) return;
    }
    r.lastTsUs = tsUs;
    const s = this.seg;
    const why = decodeFrame(buf, off, caplen, origlen, iface.linktype, s);
    if (why !== SKIP.ok) {
      const k = SKIP_NAMES[why];
      r.skipped[k] = (r.skipped[k] ?? 0) + 1;
      return;
    }
    if (dir !== 0) s.dir = dir;
    r.tcpPackets++;
    if (s.optsCut) r.optionsCut++;
    const w = this.records.advance(tsUs);
    if (tsUs > this.lastTsUs) this.lastTsUs = tsUs;
    const c = this.tracker.segment(s, tsUs, iface.index, iface.name);
    // Packets of this direction in the window (the records' denominator).
    const h = c.half(this.tracker.lastHalf);
    if (h.periodIdx !== w) {
      h.periodIdx = w;
      h.periodPackets = 0;
    }
    h.periodPackets++;
  }

  /** Fingerprint the file; returns false when it is a duplicate of one already analysed. */
  private firstPacket(r: FileReport, buf: Buffer, off: number, caplen: number, tsUs: number, iface: CaptureInterface): boolean {
    r.fingerprint = createHash('sha1').update(`${tsUs}|${iface.linktype}|${caplen}|`).update(buf.subarray(off, off + Math.min(caplen, 256))).digest('base64url').slice(0, 16);
    r.firstTsUs = tsUs;
    if (this.seen.includes(r.fingerprint)) {
      r.duplicate = true;
      this.stopFile = true;
      return false;
    }
    this.records.beginFile({ path: r.path, fingerprint: r.fingerprint });
    const carried = this.carried;
    if (carried) {
      this.carried = null;
      // Only a continuation: a file from before the carried state (re-analysis
      // of an old file, or one delivered out of order) starts fresh.
      if (tsUs + CARRY_SLACK_US >= carried.lastTsUs) for (const c of carried.conns) this.tracker.restore(c);
    }
    return true;
  }
}

function emptyReader(): ReaderStats {
  return { format: undefined, packets: 0, zeroLength: 0, badRecords: 0, skippedBlocks: 0, truncatedTailBytes: 0, snaplen: 0, interfaces: [] };
}

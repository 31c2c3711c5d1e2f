// Framing of capture files: classic pcap (either byte order, micro- or
// nanosecond timestamps) and pcapng (sections of either byte order, several
// interfaces, EPB/SPB/obsolete PB; every other block skipped and counted).
// Bytes are pushed in chunks of any size; each packet is handed to the sink
// as (buffer, offset, lengths) without copying. Only a record split across
// two chunks is copied, and no record may exceed MAX_BLOCK_BYTES, so memory
// is bounded whatever the input. Framing that cannot be trusted any more
// (a bad length) is a CaptureError; what came before it was delivered.
import { CaptureError } from '../errors.js';

/** libpcap's largest snapshot length: a captured length above it is corruption. */
export const MAX_PACKET_BYTES = 262_144;
/** Largest pcapng block we buffer (name resolution or secrets blocks can be big). */
export const MAX_BLOCK_BYTES = 16 << 20;

export interface CaptureInterface {
  /** Position in its section (pcapng interface id; 0 for classic pcap). */
  index: number;
  linktype: number;
  snaplen: number;
  name?: string;
  /** Microseconds per timestamp unit. */
  usPerUnit: number;
}

/** Direction the capture says a packet went (pcapng epb_flags, Linux cooked header). */
/** 0 unknown, 1 inbound (received), 2 outbound (sent). */
export type DirHint = 0 | 1 | 2;

export interface PacketSink {
  packet(buf: Buffer, off: number, caplen: number, origlen: number, tsUs: number, iface: CaptureInterface, dir: DirHint): void;
}

export interface ReaderStats {
  format: 'pcap' | 'pcapng' | undefined;
  packets: number;
  /** Records with a captured length of 0. */
  zeroLength: number;
  /** Records whose captured length exceeds their original length, or naming an unknown interface. */
  badRecords: number;
  /** pcapng blocks of other types (statistics, name resolution, …). */
  skippedBlocks: number;
  /** Bytes of an incomplete last record (the file ends inside it: cut, or still being written). */
  truncatedTailBytes: number;
  /** Largest snapshot length any interface declared. */
  snaplen: number;
  interfaces: CaptureInterface[];
}

const PCAPNG_SHB = 0x0a0d0d0a;
const BOM = 0x1a2b3c4d;

type Format = { kind: 'pcap'; le: boolean; iface: CaptureInterface; nano: boolean } | { kind: 'pcapng'; le: boolean; ifaces: CaptureInterface[] };

export class CaptureReader {
  readonly stats: ReaderStats = { format: undefined, packets: 0, zeroLength: 0, badRecords: 0, skippedBlocks: 0, truncatedTailBytes: 0, snaplen: 0, interfaces: [] };
  private carry: Buffer | null = null;
  private fmt: Format | null = null;
  /** Bytes consumed before the current buffer (for error offsets). */
  private consumed = 0;
  /** Last timestamp seen (a Simple Packet Block has none of its own). */
  private lastTsUs = 0;

  constructor(private readonly file: string, private readonly sink: PacketSink) {}

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.carry) {
      data = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let pos = 0;
    if (!this.fmt) {
      pos = this.header(data);
      if (pos < 0) {
        this.keep(data, 0);
        return;
      }
    }
    pos = this.fmt!.kind === 'pcap' ? this.pcapRecords(data, pos) : this.pcapngBlocks(data, pos);
    this.keep(data, pos);
  }

  /** End of input: an incomplete header is an error, an incomplete last record a counted skip. */
  end(): void {
    const rest = this.carry?.length ?? 0;
    this.carry = null;
    if (!this.fmt) {
      throw new CaptureError(this.file, rest < 4 ? `too short to be a capture file (${rest} bytes)` : `incomplete capture file header (${rest} bytes)`);
    }
    this.stats.truncatedTailBytes = rest;
  }

  private keep(data: Buffer, pos: number): void {
    this.consumed += pos;
    // Copied: a plain file's chunks share one buffer that is about to be overwritten.
    if (pos < data.length) this.carry = Buffer.from(data.subarray(pos));
  }

  private fail(at: number, what: string): never {
    throw new CaptureError(this.file, `${what} at byte ${this.consumed + at}; the rest of the file cannot be framed`, 'The file is corrupt or not a complete capture; packets before this point were analysed.');
  }

  /** Detect the format; returns the offset after the file header, or -1 to wait for more bytes. */
  private header(d: Buffer): number {
    if (d.length < 4) return -1;
    const be = d.readUInt32BE(0);
    const le = d.readUInt32LE(0);
    if (be === PCAPNG_SHB) {
      this.fmt = { kind: 'pcapng', le: true, ifaces: [] };
      this.stats.format = 'pcapng';
      return 0;
    }
    const magic = [0xa1b2c3d4, 0xa1b23c4d].includes(be) ? be : [0xa1b2c3d4, 0xa1b23c4d].includes(le) ? le : 0;
    if (!magic) {
      const gz = d[0] === 0x1f && d[1] === 0x8b;
      throw new CaptureError(this.file, `not a pcap or pcapng file (starts with 0x${be.toString(16).padStart(8, '0')}${gz ? ', gzip inside gzip' : ''})`);
    }
    if (d.length < 24) return -1;
    const isLe = le === magic;
    const u16 = (o: number) => (isLe ? d.readUInt16LE(o) : d.readUInt16BE(o));
    const u32 = (o: number) => (isLe ? d.readUInt32LE(o) : d.readUInt32BE(o));
    if (u16(4) !== 2) throw new CaptureError(this.file, `unsupported pcap version ${u16(4)}.${u16(6)}`);
    const nano = magic === 0xa1b23c4d;
    // The upper bits of the link type field carry FCS information (pcap-savefile(5)).
    const iface: CaptureInterface = { index: 0, linktype: u32(20) & 0x0fffffff, snaplen: u32(16), usPerUnit: nano ? 0.001 : 1 };
    this.fmt = { kind: 'pcap', le: isLe, iface, nano };
    this.stats.format = 'pcap';
    this.stats.snaplen = iface.snaplen;
    this.stats.interfaces.push(iface);
    return 24;
  }

  private pcapRecords(d: Buffer, pos: number): number {
    const f = this.fmt as Extract<Format, { kind: 'pcap' }>;
    const le = f.le;
    const iface = f.iface;
    const sink = this.sink;
    const n = d.length;
    while (pos + 16 <= n) {
      const sec = le ? d.readUInt32LE(pos) : d.readUInt32BE(pos);
      const frac = le ? d.readUInt32LE(pos + 4) : d.readUInt32BE(pos + 4);
      const caplen = le ? d.readUInt32LE(pos + 8) : d.readUInt32BE(pos + 8);
      const origlen = le ? d.readUInt32LE(pos + 12) : d.readUInt32BE(pos + 12);
      if (caplen > MAX_PACKET_BYTES) this.fail(pos, `record with captured length ${caplen} (> ${MAX_PACKET_BYTES})`);
      if (pos + 16 + caplen > n) break;
      const tsUs = sec * 1_000_000 + (f.nano ? Math.floor(frac / 1000) : frac);
      if (caplen === 0) this.stats.zeroLength++;
      else if (caplen > origlen) this.stats.badRecords++;
      else {
        this.stats.packets++;
        sink.packet(d, pos + 16, caplen, origlen, tsUs, iface, 0);
      }
      pos += 16 + caplen;
    }
    return pos;
  }

  private pcapngBlocks(d: Buffer, pos: number): number {
    const f = this.fmt as Extract<Format, { kind: 'pcapng' }>;
    const n = d.length;
    while (pos + 12 <= n) {
      const typeBe = d.readUInt32BE(pos);
      if (typeBe === PCAPNG_SHB) {
        // A new section: its own byte order and interfaces.
        const bom = d.readUInt32LE(pos + 8);
        if (bom === BOM) f.le = true;
        else if (d.readUInt32BE(pos + 8) === BOM) f.le = false;
        else this.fail(pos, 'section header block with a bad byte-order magic');
      }
      const le = f.le;
      const type = le ? d.readUInt32LE(pos) : typeBe;
      const len = le ? d.readUInt32LE(pos + 4) : d.readUInt32BE(pos + 4);
      if (len < 12 || len % 4 !== 0) this.fail(pos, `pcapng block of type 0x${type.toString(16)} with invalid length ${len}`);
      if (len > MAX_BLOCK_BYTES) this.fail(pos, `pcapng block of type 0x${type.toString(16)} with length ${len} (> ${MAX_BLOCK_BYTES})`);
      if (pos + len > n) break;
      const trailer = le ? d.readUInt32LE(pos + len - 4) : d.readUInt32BE(pos + len - 4);
      if (trailer !== len) this.fail(pos, `pcapng block whose trailing length ${trailer} differs from its length ${len}`);
      switch (type) {
        case PCAPNG_SHB:
          f.ifaces = [];
          break;
        case 1:
          this.idb(d, pos, len, f);
          break;
        case 6:
          this.epb(d, pos, len, f);
          break;
        case 3:
          this.spb(d, pos, len, f);
          break;
        case 2:
          this.obsoletePb(d, pos, len, f);
          break;
        default:
          this.stats.skippedBlocks++;
      }
      pos += len;
    }
    return pos;
  }

  private idb(d: Buffer, pos: number, len: number, f: Extract<Format, { kind: 'pcapng' }>): void {
    if (len < 20) this.fail(pos, 'interface description block too short');
    const le = f.le;
    const iface: CaptureInterface = {
      index: f.ifaces.length,
      linktype: le ? d.readUInt16LE(pos + 8) : d.readUInt16BE(pos + 8),
      snaplen: le ? d.readUInt32LE(pos + 12) : d.readUInt32BE(pos + 12),
      usPerUnit: 1,
    };
    for (const [code, o, l] of options(d, pos + 16, pos + len - 4, le)) {
      if (code === 2 && l > 0) iface.name = d.toString('utf8', o, o + l).replace(/\0+$/, '');
      if (code === 9 && l >= 1) {
        const r = d[o];
        // if_tsresol: MSB clear → 10^-v s, set → 2^-v s (pcapng spec 4.2).
        iface.usPerUnit = r & 0x80 ? 1e6 / 2 ** (r & 0x7f) : 1e6 / 10 ** r;
      }
    }
    f.ifaces.push(iface);
    this.stats.interfaces.push(iface);
    if (iface.snaplen > this.stats.snaplen) this.stats.snaplen = iface.snaplen;
  }

  private epb(d: Buffer, pos: number, len: number, f: Extract<Format, { kind: 'pcapng' }>): void {
    const le = f.le;
    const id = le ? d.readUInt32LE(pos + 8) : d.readUInt32BE(pos + 8);
    const hi = le ? d.readUInt32LE(pos + 12) : d.readUInt32BE(pos + 12);
    const lo = le ? d.readUInt32LE(pos + 16) : d.readUInt32BE(pos + 16);
    const caplen = le ? d.readUInt32LE(pos + 20) : d.readUInt32BE(pos + 20);
    const origlen = le ? d.readUInt32LE(pos + 24) : d.readUInt32BE(pos + 24);
    if (32 + caplen > len) this.fail(pos, `enhanced packet block with captured length ${caplen} beyond its block length ${len}`);
    const iface = f.ifaces[id];
    if (!iface || caplen > origlen) {
      this.stats.badRecords++;
      return;
    }
    if (caplen === 0) {
      this.stats.zeroLength++;
      return;
    }
    let dir: number = 0;
    const optStart = pos + 28 + ((caplen + 3) & ~3);
    if (optStart < pos + len - 4) {
      for (const [code, o, l] of options(d, optStart, pos + len - 4, le)) {
        // epb_flags bits 0-1: 01 inbound, 10 outbound.
        if (code === 2 && l === 4) dir = (le ? d.readUInt32LE(o) : d.readUInt32BE(o)) & 3;
      }
    }
    const tsUs = Math.floor((hi * 4294967296 + lo) * iface.usPerUnit);
    this.lastTsUs = tsUs;
    this.stats.packets++;
    this.sink.packet(d, pos + 28, caplen, origlen, tsUs, iface, dir === 3 ? 0 : (dir as DirHint));
  }

  private spb(d: Buffer, pos: number, len: number, f: Extract<Format, { kind: 'pcapng' }>): void {
    const iface = f.ifaces[0];
    if (!iface || len < 16) {
      this.stats.badRecords++;
      return;
    }
    const origlen = f.le ? d.readUInt32LE(pos + 8) : d.readUInt32BE(pos + 8);
    // No captured length field: the packet is what fits the block and the snaplen.
    let caplen = Math.min(origlen, len - 16);
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    if (caplen === 0) {
      this.stats.zeroLength++;
      return;
    }
    this.stats.packets++;
    this.sink.packet(d, pos + 12, caplen, origlen, this.lastTsUs, iface, 0);
  }

  private obsoletePb(d: Buffer, pos: number, len: number, f: Extract<Format, { kind: 'pcapng' }>): void {
    const le = f.le;
    if (len < 32) this.fail(pos, 'packet block too short');
    const id = le ? d.readUInt16LE(pos + 8) : d.readUInt16BE(pos + 8);
    const hi = le ? d.readUInt32LE(pos + 12) : d.readUInt32BE(pos + 12);
    const lo = le ? d.readUInt32LE(pos + 16) : d.readUInt32BE(pos + 16);
    const caplen = le ? d.readUInt32LE(pos + 20) : d.readUInt32BE(pos + 20);
    const origlen = le ? d.readUInt32LE(pos + 24) : d.readUInt32BE(pos + 24);
    if (32 + caplen > len) this.fail(pos, `packet block with captured length ${caplen} beyond its block length ${len}`);
    const iface = f.ifaces[id];
    if (!iface || caplen > origlen || caplen === 0) {
      if (caplen === 0) this.stats.zeroLength++;
      else this.stats.badRecords++;
      return;
    }
    const tsUs = Math.floor((hi * 4294967296 + lo) * iface.usPerUnit);
    this.lastTsUs = tsUs;
    this.stats.packets++;
    this.sink.packet(d, pos + 28, caplen, origlen, tsUs, iface, 0);
  }
}

/** pcapng options between start and end: [code, value offset, value length]; stops at opt_endofopt or a malformed option. */
function* options(d: Buffer, start: number, end: number, le: boolean): Generator<[number, number, number]> {
  let p = start;
  while (p + 4 <= end) {
    const code = le ? d.readUInt16LE(p) : d.readUInt16BE(p);
    const l = le ? d.readUInt16LE(p + 2) : d.readUInt16BE(p + 2);
    if (code === 0 || p + 4 + l > end) return;
    yield [code, p + 4, l];
    p += 4 + ((l + 3) & ~3);
  }
}

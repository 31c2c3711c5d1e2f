// One snapshot of a namespace's loss counters: procfs net files read through
// its anchor (/proc/<helper>/net/...), qdisc statistics from the anchor's tc,
// and driver statistics (ethtool -S) of its physical interfaces.
import { readFileSync, readdirSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Anchor } from '../netns/anchor.js';
import { runTool, type Tools } from '../exec/tools.js';
import {
  parseStatTable,
  parseConntrackStat, parseEthtoolStats, parseNetDev, parseQdiscs, parseSnmp6, parseSnmpFile, parseSoftnet, qdiscSamples,
  type CounterSample, type QdiscInfo, type CounterSource,
} from './parse.js';
import { counterInfo } from './catalog.js';

export interface NetnsCounters {
  inode: number;
  name?: string;
  at: number;
  samples: CounterSample[];
  /** Current conntrack table size in this namespace (nf_conntrack_count). */
  conntrackEntries?: number;
  qdiscs?: QdiscInfo[];
  /** Why nothing could be read, when nothing could. */
  unreadable?: string;
}

const watched = (name: string, source: CounterSource) => counterInfo(name, source) !== undefined;

const readTextOnce = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

export const readText = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * procfs counter files read every tick: kept open and re-read from offset 0
 * (seq_file regenerates on every read from the start), latin1-decoded (the
 * files are ASCII), into one buffer that grows when needed. Saves an open,
 * fstat and close per file per tick — at 100 namespaces, 600 of each a second.
 */
export class ProcFiles {
  private readonly fds = new Map<string, number>();
  private buf = Buffer.allocUnsafe(64 * 1024);

  read(path: string): string | undefined {
    let fd = this.fds.get(path);
    try {
      if (fd === undefined) {
        fd = openSync(path, 'r');
        this.fds.set(path, fd);
      }
      let len = 0;
      for (;;) {
        if (len === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, len);
          this.buf = bigger;
        }
        const n = readSync(fd, this.buf, len, this.buf.length - len, len);
        if (n === 0) break;
        len += n;
      }
      return this.buf.toString('latin1', 0, len);
    } catch {
      if (fd !== undefined) this.close(path);
      return undefined;
    }
  }

  /** Close the files under a directory (a namespace that went away). */
  closeUnder(dir: string): void {
    for (const p of [...this.fds.keys()]) if (p.startsWith(dir)) this.close(p);
  }

  private close(path: string): void {
    const fd = this.fds.get(path);
    this.fds.delete(path);
    if (fd !== undefined) try {
      closeSync(fd);
    } catch { /* gone */ }
  }

  closeAll(): void {
    for (const p of [...this.fds.keys()]) this.close(p);
  }
}

export interface ReadOptions {
  tools: Tools;
  /** Read driver counters of these interfaces (physical ones) with ethtool -S. */
  ethtoolIfaces?: string[];
  /** Ask the helper for qdisc statistics (default true). */
  qdiscs?: boolean;
  /** Kept-open procfs files (default: a fresh open per read). */
  files?: ProcFiles;
  now?: () => number;
}

export async function readNamespaceCounters(a: Anchor, o: ReadOptions): Promise<NetnsCounters> {
  const qdiscJson = o.qdiscs === false ? Promise.resolve(undefined) : a.qdiscs();
  const base = { inode: a.netns.inode, name: a.netns.name, at: (o.now ?? Date.now)() };
  const dir = a.procNet();
  if (!dir) {
    await qdiscJson;
    return { ...base, samples: [], unreadable: a.problem ?? 'no way into this namespace' };
  }
  const samples: CounterSample[] = [];
  const readText = o.files ? (p: string) => o.files!.read(p) : readTextOnce;
  const snmp = readText(join(dir, 'snmp'));
  if (snmp === undefined) {
    await qdiscJson;
    return { ...base, samples: [], unreadable: `cannot read ${join(dir, 'snmp')} (namespace gone?)` };
  }
  samples.push(...parseSnmpFile(snmp, 'snmp', watched));
  const netstat = readText(join(dir, 'netstat'));
  if (netstat) samples.push(...parseSnmpFile(netstat, 'netstat', watched));
  const snmp6 = readText(join(dir, 'snmp6'));
  if (snmp6) samples.push(...parseSnmp6(snmp6, watched));
  const dev = readText(join(dir, 'dev'));
  if (dev) samples.push(...parseNetDev(dev));
  let conntrackEntries: number | undefined;
  const ct = readText(join(dir, 'stat', 'nf_conntrack'));
  if (ct) {
    const p = parseConntrackStat(ct);
    samples.push(...p.samples);
    conntrackEntries = p.entries;
  }
  const q = await qdiscJson;
  const qdiscs = q ? parseQdiscs(q) : undefined;
  if (qdiscs) samples.push(...qdiscSamples(qdiscs));
  if (o.ethtoolIfaces?.length && o.tools.has('ethtool')) {
    const outs = await Promise.all(o.ethtoolIfaces.map((i) => runTool(o.tools, 'ethtool', ['-S', i], { netns: a.netns.self ? undefined : a.handle(), timeoutMs: 2000 }).catch(() => undefined)));
    outs.forEach((r, i) => {
      if (r && r.code === 0) samples.push(...parseEthtoolStats(r.stdout, o.ethtoolIfaces![i]));
    });
  }
  return { ...base, samples, conntrackEntries, qdiscs };
}

/** Host-wide CPU backlog counters (softnet_stat is the same from every namespace). */
export function readSoftnet(procRoot = '/proc') {
  const t = readText(join(procRoot, 'net', 'softnet_stat'));
  return t === undefined ? undefined : parseSoftnet(t);
}

/** Host-wide neighbour-table counters: ARP and NDP tables are shared by every namespace. */
export function readNeighStats(procRoot = '/proc') {
  const out = [];
  for (const t of ['arp_cache', 'ndisc_cache']) {
    const text = readText(join(procRoot, 'net', 'stat', t));
    if (text) out.push(...parseStatTable(text, `neigh.${t}`, 'neigh').samples);
  }
  return out;
}

/**
 * Physical interfaces of a namespace (ethtool -S is only worth it there):
 * ours from sysfs (a `device` link), others from `ip -d -j link` (no
 * linkinfo kind and not loopback).
 */
export async function physicalInterfaces(a: Anchor, tools: Tools, sysClassNet = '/sys/class/net'): Promise<string[]> {
  if (a.netns.self) {
    try {
      return readdirSync(sysClassNet).filter((d) => existsSync(join(sysClassNet, d, 'device')));
    } catch {
      return [];
    }
  }
  if (!tools.has('ip')) return [];
  try {
    const r = await runTool(tools, 'ip', ['-d', '-j', 'link', 'show'], { netns: a.handle(), timeoutMs: 3000 });
    const links = JSON.parse(escapeRawControls(r.stdout)) as Array<{ ifname?: string; link_type?: string; linkinfo?: { info_kind?: string } }>;
    return links.filter((l) => typeof l.ifname === 'string' && l.link_type !== 'loopback' && !l.linkinfo?.info_kind).map((l) => l.ifname!);
  } catch {
    return [];
  }
}

/**
 * iproute2's JSON copies control bytes in names raw (JSON.parse rejects them);
 * names hold no whitespace, so every such byte is inside a string.
 */
export function escapeRawControls(json: string): string {
  return json.replace(/[\u0000-\u0009\u000b-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// One readable line per record for `droptrace tail`:
//   14:03:07.123  DROP  NETFILTER_DROP  nft_do_chain+0x3c4 [nf_tables]  udp 10.1.0.1:40000 → 10.1.0.2:9999  ingress/local-in  veth-b (netns 4026532301)
import type { EcsRecord } from '../record/ecs.js';
import { escapeForTerminal } from '../text/escape.js';
import { ACTIONS, type ColorName } from './actions.js';

export interface Style {
  color: boolean;
}

const CODES: Record<ColorName, number> = { red: 31, yellow: 33, magenta: 35, cyan: 36, dim: 2, bold: 1 };

function paint(style: Style, c: ColorName, s: string): string {
  return style.color ? `\x1b[${CODES[c]}m${s}\x1b[0m` : s;
}

function endpoint(ip: unknown, port: unknown): string {
  if (typeof ip !== 'string') return '?';
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return typeof port === 'number' ? `${host}:${port}` : host;
}

function time(iso: string): string {
  return iso.slice(11, 23);
}

export function formatRecord(r: EcsRecord, style: Style): string {
  const dt = r.droptrace as Record<string, any>;
  const { label, color } = ACTIONS[r.event.action] ?? { label: r.event.action, color: 'bold' };
  const parts = [paint(style, 'dim', time(r['@timestamp'])), paint(style, color, label)];
  if (r.event.action === 'events-lost') {
    parts.push(escapeForTerminal(`bpftrace lost ${dt.lost?.count ?? '?'} events (output buffer full)`));
    return parts.join('  ');
  }
  if (r.event.action === 'tracer-gap') {
    parts.push(escapeForTerminal(`tracer restarted; no events from ${dt.gap?.start} to ${dt.gap?.end} (${dt.gap?.cause ?? ''})`));
    return parts.join('  ');
  }
  parts.push(paint(style, 'bold', escapeForTerminal(r.event.reason ?? '')));
  if (dt.drop?.location) {
    const l = dt.drop.location;
    const loc = l.symbol ? `${l.symbol}+0x${Number(l.offset ?? 0).toString(16)}${l.module ? ` [${l.module}]` : ''}` : l.address;
    parts.push(paint(style, 'cyan', escapeForTerminal(loc)));
  }
  if (dt.tcp?.state) parts.push(escapeForTerminal(String(dt.tcp.state)));
  const proto = r.network?.transport ?? (r.network?.iana_number ? `proto ${r.network.iana_number}` : dt.ethertype !== undefined ? `ethertype 0x${Number(dt.ethertype).toString(16)}` : '');
  if (r.source || r.destination) {
    parts.push(escapeForTerminal(`${proto} ${endpoint(r.source?.ip, r.source?.port)} → ${endpoint(r.destination?.ip, r.destination?.port)}`.trim()));
  } else if (proto) {
    parts.push(escapeForTerminal(proto));
  }
  parts.push(escapeForTerminal(`${r.network?.direction ?? 'unknown'}/${dt.path ?? 'unknown'}`));
  const iface = r.observer?.ingress?.interface ?? (r.observer as any)?.egress?.interface;
  const ns = dt.netns?.inode;
  if (iface) parts.push(escapeForTerminal(`${iface.name ?? `if${iface.id}`}${ns ? ` (netns ${ns})` : ''}`));
  else if (ns) parts.push(escapeForTerminal(`netns ${ns}`));
  const line = parts.join('  ');
  // --kernel-stack: one indented frame per line under the event.
  const stack: unknown = dt.drop?.stack;
  if (Array.isArray(stack) && stack.length) return line + stack.map((f) => '\n    ' + paint(style, 'dim', escapeForTerminal(String(f)))).join('');
  return line;
}

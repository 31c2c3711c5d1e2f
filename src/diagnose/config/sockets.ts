// Sockets as `ss -H -a -n -t -u -m -O -p` prints them (one line each):
//   tcp LISTEN 0 1 10.0.0.2:5000 0.0.0.0:* users:(("python3",pid=7,fd=3)) skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)
// For a listener Recv-Q is the accept queue now and Send-Q its backlog; for
// other sockets they are bytes queued. skmem: r = receive memory in use,
// rb = receive buffer limit, t/tb the same for send, d = packets the socket dropped.

export interface SocketInfo {
  proto: string;
  state: string;
  recvQ: number;
  sendQ: number;
  local: { ip: string; port: number } | undefined;
  peer: { ip: string; port: number } | undefined;
  /** skmem fields: r, rb, t, tb, f, w, o, bl, d. */
  skmem: Record<string, number>;
  /** Owning processes ("name" pid), when ss could see them. */
  users: Array<{ name: string; pid: number }>;
}

export function parseEndpoint(s: string): { ip: string; port: number } | undefined {
  const i = s.lastIndexOf(':');
  if (i <= 0) return undefined;
  let ip = s.slice(0, i);
  const port = s.slice(i + 1);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  ip = ip.replace(/%.*$/, '');
  if (ip === '*') ip = '0.0.0.0';
  if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
  return /^\d+$/.test(port) ? { ip, port: Number(port) } : { ip, port: 0 };
}

export function parseSs(text: string): SocketInfo[] {
  const out: SocketInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    const rest = f.slice(6).join(' ');
    const skmem: Record<string, number> = {};
    const m = /skmem:\(([^)]*)\)/.exec(rest);
    if (m) for (const kv of m[1].split(',')) {
      const k = /^([a-z]+)(\d+)$/.exec(kv);
      if (k) skmem[k[1]] = Number(k[2]);
    }
    const users: SocketInfo['users'] = [];
    for (const u of rest.matchAll(/\("((?:[^"\\]|\\.)*)",pid=(\d+)/g)) users.push({ name: u[1], pid: Number(u[2]) });
    out.push({ proto: f[0], state: f[1], recvQ: Number(f[2]), sendQ: Number(f[3]), local: parseEndpoint(f[4]), peer: parseEndpoint(f[5]), skmem, users });
  }
  return out;
}

const isWildcard = (ip: string) => ip === '0.0.0.0' || ip === '::';

/** Does a socket bound to `local` receive packets for ip:port? */
export function boundTo(s: SocketInfo, ip: string | undefined, port: number | undefined): boolean {
  if (!s.local || port === undefined || s.local.port !== port) return false;
  return ip === undefined || isWildcard(s.local.ip) || s.local.ip === ip;
}

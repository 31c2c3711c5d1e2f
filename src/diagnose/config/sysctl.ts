// The configuration a diagnosis quotes, read inside each namespace: /proc/sys
// shows the *reader's* namespace (not a /proc/PID view), so one
// `nsenter --net=… grep -H -s '' FILE…` per namespace reads them all at once.
// Limits that exist only in the initial namespace (tcp_mem, netdev_max_backlog,
// ...) are read from our own /proc/sys and marked host-wide.

export const NETNS_SYSCTLS = [
  'net/core/rmem_default', 'net/core/rmem_max', 'net/core/wmem_default', 'net/core/wmem_max', 'net/core/somaxconn',
  'net/ipv4/tcp_rmem', 'net/ipv4/tcp_wmem', 'net/ipv4/tcp_max_syn_backlog', 'net/ipv4/tcp_syncookies', 'net/ipv4/tcp_abort_on_overflow',
  'net/ipv4/tcp_timestamps', 'net/ipv4/tcp_max_tw_buckets', 'net/ipv4/ip_forward', 'net/ipv4/udp_rmem_min', 'net/ipv4/udp_wmem_min',
  'net/ipv4/icmp_ratelimit', 'net/ipv4/icmp_msgs_per_sec', 'net/ipv4/ip_local_port_range',
  'net/ipv4/conf/all/rp_filter', 'net/ipv4/conf/default/rp_filter', 'net/ipv4/conf/all/forwarding',
  'net/ipv4/neigh/default/gc_thresh3', 'net/ipv6/neigh/default/gc_thresh3',
  'net/netfilter/nf_conntrack_max', 'net/netfilter/nf_conntrack_count', 'net/netfilter/nf_conntrack_buckets', 'net/netfilter/nf_conntrack_tcp_loose',
  'net/ipv6/conf/all/forwarding', 'net/ipv6/conf/all/disable_ipv6',
];

/** Per-interface files, for each interface of the namespace. */
export const IFACE_SYSCTLS = ['net/ipv4/conf/IF/rp_filter', 'net/ipv4/conf/IF/forwarding', 'net/ipv4/neigh/IF/unres_qlen_bytes', 'net/ipv4/neigh/IF/mcast_solicit', 'net/ipv4/neigh/IF/ucast_solicit'];

/** Only the initial namespace has these (the kernel shares one value host-wide). */
export const HOST_SYSCTLS = [
  'net/ipv4/tcp_mem', 'net/ipv4/udp_mem', 'net/core/netdev_max_backlog', 'net/core/netdev_budget', 'net/core/netdev_budget_usecs',
  'net/core/flow_limit_table_len', 'net/ipv4/tcp_max_orphans',
];

/** "net/ipv4/tcp_rmem" → "net.ipv4.tcp_rmem" (interface names keep their dots: conf.<if>.x is ambiguous only to readers). */
export const sysctlName = (path: string) => path.replace(/^\/proc\/sys\//, '').split('/').join('.');

export function sysctlFiles(ifaces: string[], paths = NETNS_SYSCTLS): string[] {
  const out = paths.map((p) => `/proc/sys/${p}`);
  for (const i of ifaces) {
    // A name from /proc/net/dev: no '/' possible; '.' and '..' are not interface names.
    if (i.includes('/') || i === '.' || i === '..') continue;
    for (const t of IFACE_SYSCTLS) out.push(`/proc/sys/${t.replace('IF', i)}`);
  }
  return out;
}

/** `grep -H -s '' FILE…` output → sysctl name → value (whitespace collapsed). */
export function parseGrepH(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0 || !line.startsWith('/proc/sys/')) continue;
    out.set(sysctlName(line.slice(0, i)), line.slice(i + 1).trim().replace(/\s+/g, ' '));
  }
  return out;
}

// The kernel's own SNMP/netstat counters of a network namespace
// (/proc/net/snmp and /proc/net/netstat as seen from inside it): read for
// reconciliation (src/aggregate/coverage.ts) and diagnosis.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

/** Counter name → value, from the "Tcp:"/"TcpExt:"... header/value line pairs. */
export function parseSnmp(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const h = lines[i].trim().split(/\s+/);
    const v = lines[i + 1].trim().split(/\s+/);
    if (h.length < 2 || h[0] !== v[0] || !h[0].endsWith(':')) continue;
    // Header and value lines alternate; a value line never has letters after the prefix.
    if (v.slice(1).some((x) => !/^-?\d+$/.test(x))) continue;
    const prefix = h[0].slice(0, -1);
    for (let j = 1; j < h.length && j < v.length; j++) out.set(`${prefix}.${h[j]}`, Number(v[j]));
    i++;
  }
  return out;
}

export type CounterReader = (netnsPath: string) => Promise<Map<string, number>>;

/** Read from inside a netns: nsenter (argv array, no shell) + cat of procfs. */
export const readCountersViaNsenter: CounterReader = (netnsPath) =>
  new Promise((resolve, reject) => {
    execFile('nsenter', [`--net=${netnsPath}`, '--', 'cat', '/proc/self/net/snmp', '/proc/self/net/netstat'], { timeout: 5000, maxBuffer: 1 << 20, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }, (err, stdout) => {
      if (err) reject(err);
      else resolve(parseSnmp(stdout));
    });
  });

/** Our own netns needs no helper process. */
export const readOwnCounters = async (procRoot = '/proc'): Promise<Map<string, number>> => {
  const [a, b] = await Promise.all([readFile(`${procRoot}/self/net/snmp`, 'utf8'), readFile(`${procRoot}/self/net/netstat`, 'utf8')]);
  return parseSnmp(a + '\n' + b);
};

// Counter rows → ECS records (event.dataset droptrace.counters).
import type { EcsRecord } from '../../record/ecs.js';
import type { CounterRow } from './rates.js';

const round = (n: number, d = 3) => Math.round(n * 10 ** d) / 10 ** d;

export function counterRecord(r: CounterRow, host: string, endMs: number): EcsRecord {
  const end = new Date(endMs).toISOString();
  const start = new Date(endMs - r.seconds * 1000).toISOString();
  const counter: Record<string, unknown> = {
    name: r.name, source: r.source, netns: r.netns,
    ...(r.iface !== undefined ? { interface: r.iface } : {}),
    ...(r.qdisc !== undefined ? { qdisc: r.qdisc } : {}),
    value: r.value, delta: r.delta, rate: round(r.rate),
    ...(r.baseline !== undefined ? { baseline: round(r.baseline) } : {}),
    storm: r.storm, floor: r.info.floor, score: round(r.score),
    meaning: r.info.meaning,
    ...(r.info.cause ? { cause: r.info.cause } : {}),
  };
  return {
    '@timestamp': end,
    event: { kind: 'metric', category: ['network'], action: 'counter-sample', dataset: 'droptrace.counters', start, end },
    host: { name: host },
    droptrace: {
      id: `${host}-counter-${r.netns}-${r.name}-${r.iface ?? ''}-${r.qdisc ?? ''}-${endMs}`,
      netns: { inode: r.netns, ...(r.netnsName ? { name: r.netnsName } : {}) },
      counter,
    },
  };
}

// User filters (validated by src/filters) with their names turned into the
// numbers the probes compare: drop reasons by this kernel's table, interface
// names by this network namespace's interfaces.
import { UsageError } from '../errors.js';
import type { Filters } from '../filters/filters.js';
import type { ResolvedFilters } from '../source/predicate.js';
import type { ReasonTable } from '../enrich/reasons.js';

export interface NameLookups {
  reasons: ReasonTable;
  /** ifindex of an interface name in our own netns. */
  ifindexOf: (name: string) => number | undefined;
}

export function resolveFilters(f: Filters, l: NameLookups): ResolvedFilters {
  const codeOf = (name: string, flag: string) => {
    const c = l.reasons.codeOf(name);
    if (c === undefined) {
      const near = l.reasons.names().filter((n) => n.includes(name) || name.includes(n)).slice(0, 5);
      throw new UsageError(`--${flag}: ${name} is not a drop reason of this kernel${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`, 'List them with `droptrace probes --reasons`.');
    }
    return c;
  };
  const ifindexes: number[] = [];
  for (const i of f.ifaces) {
    if ('index' in i) ifindexes.push(i.index);
    else {
      const idx = l.ifindexOf(i.name);
      if (idx === undefined) throw new UsageError(`--filter-iface: no interface named ${i.name} in this network namespace`, 'Give its index instead to match an interface in another namespace.');
      ifindexes.push(idx);
    }
  }
  return {
    hosts: f.hosts, ports: f.ports, protos: f.protos, netns: f.netns, ifindexes,
    reasonCodes: f.reasons.map((r) => codeOf(r, 'filter-reason')),
    excludeReasonCodes: f.excludeReasons.map((r) => codeOf(r, 'exclude-reason')),
  };
}

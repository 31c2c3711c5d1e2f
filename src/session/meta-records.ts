// Records about the tracer itself, in the drops dataset so a loss of events
// shows next to the drops it hides: events bpftrace lost (its ring was full)
// and gaps while it restarted.
import type { EcsRecord } from '../record/ecs.js';
import type { Gap } from '../source/supervisor.js';

export function eventsLostRecord(host: string, count: number, seq: { lost: number; gaps: number }, now = new Date()): EcsRecord {
  return metaRecord(host, 'events-lost', { lost: { count } }, seq, now);
}

export function tracerGapRecord(host: string, g: Gap, seq: { lost: number; gaps: number }, now = new Date()): EcsRecord {
  return metaRecord(host, 'tracer-gap', {
    gap: { start: new Date(g.start).toISOString(), end: new Date(g.end).toISOString(), duration_ms: g.end - g.start, cause: g.cause, restarts: g.restarts },
  }, seq, now);
}

function metaRecord(host: string, action: 'events-lost' | 'tracer-gap', extra: Record<string, unknown>, seq: { lost: number; gaps: number }, now: Date): EcsRecord {
  const at = now.toISOString();
  return {
    '@timestamp': at,
    event: { kind: 'metric', category: ['network'], action, dataset: 'droptrace.drops' },
    host: { name: host },
    droptrace: { id: `${host}-${action}-${at}-${seq.lost}-${seq.gaps}`, ...extra },
  };
}

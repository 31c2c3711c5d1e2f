// Which enrich function turns each event type into its record: the one list a
// new signal adds a line to (its event types are its wire format's "types",
// probes/<signal>/probe.json; test/source/catalog.test.ts checks every
// catalog event type has one).
import type { EnrichFn } from './context.js';
import { enrichDrop } from './drops.js';
import { enrichTcpSocket } from './tcp-socket.js';
import { enrichIncoming } from './incoming.js';
import { enrichReset } from './resets.js';

export const ENRICH_BY_TYPE: Readonly<Record<string, EnrichFn>> = {
  drop: enrichDrop,
  retrans: enrichTcpSocket,
  synack: enrichTcpSocket,
  tlp: enrichTcpSocket,
  incoming: enrichIncoming,
  reset: enrichReset,
};

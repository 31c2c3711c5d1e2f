// The bundled probe catalog and what the collector builds from it, for unit
// tests: the wire schema, a line decoder, the decoding of map keys.
import { loadCatalog } from '../../src/source/catalog.js';
import { wireDecoder } from '../../src/decode/wire.js';
import { decodeEntry as decodeEntryWith } from '../../src/aggregate/keys.js';
import type { MapEntry } from '../../src/decode/wire.js';

export const CATALOG = loadCatalog();
export const WIRE = CATALOG.wire;
/** decodeLine of the bundled probes' wire. */
export const decodeLine = wireDecoder(WIRE);
export const decodeEntry = (e: MapEntry, ts: number) => decodeEntryWith(WIRE, e, ts);

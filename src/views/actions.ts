// How the views show each kind of record (event.action): its label and colour
// in `tail`, and the `top` column it counts in. A signal that wants its own
// column adds it to COLUMNS; one that fits an existing column, or none, only
// adds its actions. An action not listed shows under its own name in `tail`
// and is not counted by `top`.

/** `top`'s count columns, in order (after DIR; TOTAL and LAST follow). */
export const COLUMNS = [
  { key: 'drops', title: 'DROPS' },
  { key: 'retransmits', title: 'RETX' },
  { key: 'incoming', title: 'IN-LOSS' },
  { key: 'resets', title: 'RST' },
] as const;

export type ColumnKey = (typeof COLUMNS)[number]['key'];
export type ColorName = 'red' | 'yellow' | 'magenta' | 'cyan' | 'dim' | 'bold';

export interface ActionView {
  /** In `tail`, after the time. */
  label: string;
  color: ColorName;
  /** The `top` column it counts in. */
  column?: ColumnKey;
}

export const ACTIONS: Readonly<Record<string, ActionView>> = {
  'packet-dropped': { label: 'DROP', color: 'red', column: 'drops' },
  'tcp-retransmit': { label: 'RETX', color: 'yellow', column: 'retransmits' },
  'tcp-loss-probe': { label: 'TLP ', color: 'yellow', column: 'retransmits' },
  'tcp-incoming-out-of-order': { label: 'IN-OOO', color: 'magenta', column: 'incoming' },
  'tcp-incoming-retransmit': { label: 'IN-RETX', color: 'magenta', column: 'incoming' },
  'tcp-incoming-duplicate': { label: 'IN-DUP', color: 'magenta', column: 'incoming' },
  'tcp-reset-sent': { label: 'RST-OUT', color: 'red', column: 'resets' },
  'tcp-reset-received': { label: 'RST-IN', color: 'yellow', column: 'resets' },
  'events-lost': { label: 'LOST', color: 'bold' },
  'tracer-gap': { label: 'GAP ', color: 'bold' },
};

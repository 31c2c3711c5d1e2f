// top's screen: the keys (f/r/l views, v/o/p roll-ups, s sort column, q or
// Ctrl-C quit) and drawing a rendered frame in place (home, draw, clear to the
// end: no flicker, no scrollback spam), on the alternate screen.
import type { Writable } from 'node:stream';
import { renderTop } from './render.js';
import { SORT_KEYS, type SortKey, type TopState, type View } from './top-state.js';

const KEY_VIEWS: Record<string, View> = { f: 'flows', r: 'reasons', l: 'locations', v: 'services', o: 'sources', p: 'prefixes' };

export class TopScreen {
  view: View;
  sort: SortKey = 'total';
  quit = false;

  constructor(private readonly out: Writable & { rows?: number; columns?: number }, private readonly color: boolean, view: View = 'flows') {
    this.view = view;
  }

  /** Keys typed; true when something changed (redraw). */
  keys(text: string): boolean {
    let changed = false;
    for (const ch of text) {
      if (ch === 'q' || ch === '\x03') this.quit = true;
      else if (KEY_VIEWS[ch]) this.view = KEY_VIEWS[ch];
      else if (ch === 's') this.sort = SORT_KEYS[(SORT_KEYS.indexOf(this.sort) + 1) % SORT_KEYS.length];
      else continue;
      changed = true;
    }
    return changed;
  }

  open(): void {
    this.out.write('\x1b[?1049h\x1b[?25l');
  }

  draw(state: TopState, status: string): void {
    const lines = renderTop(state, this.view, this.sort, { rows: this.out.rows || 24, cols: this.out.columns || 100, color: this.color }, status);
    this.out.write('\x1b[H' + lines.map((l) => l + '\x1b[K').join('\n') + '\x1b[J');
  }

  close(): void {
    this.out.write('\x1b[?25h\x1b[?1049l');
  }
}

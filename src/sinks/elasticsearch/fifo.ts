// A plain FIFO of bulk items with O(1) push and batch take (Array.shift is O(n)).
import type { BulkItem } from './routing.js';

export class Fifo {
  private items: BulkItem[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(it: BulkItem): void {
    this.items.push(it);
  }

  /** Up to max items (and about maxBytes of bodies, at least one item) from the front. */
  take(max: number, maxBytes = Infinity): BulkItem[] {
    let end = this.head;
    let bytes = 0;
    const stop = Math.min(this.items.length, this.head + max);
    while (end < stop) {
      bytes += this.items[end].body.length;
      if (end > this.head && bytes > maxBytes) break;
      end++;
    }
    const out = this.items.slice(this.head, end);
    this.head = end;
    this.compact();
    return out;
  }

  drain(): BulkItem[] {
    return this.take(Infinity);
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

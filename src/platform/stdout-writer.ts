// Batched, back-pressure-aware line writer for stdout: one write per tick
// instead of one per event, and EPIPE (`droptrace tail | head`) ends quietly.
import type { Writable } from 'node:stream';

export class StdoutWriter {
  private buf: string[] = [];
  private scheduled = false;
  private broken = false;
  /** Lines never written because the reader went away (counted, not lost silently). */
  dropped = 0;

  constructor(private readonly stream: Writable) {
    stream.on('error', () => {
      this.broken = true;
      this.dropped += this.buf.length;
      this.buf = [];
    });
  }

  write(line: string): void {
    if (this.broken) {
      this.dropped++;
      return;
    }
    this.buf.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.buf.length === 0 || this.broken) return;
    const chunk = this.buf.join('\n') + '\n';
    this.buf = [];
    this.stream.write(chunk);
  }

  close(): Promise<void> {
    this.flush();
    if (this.broken) return Promise.resolve();
    return new Promise((r) => this.stream.write('', () => r()));
  }
}

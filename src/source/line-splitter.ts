// Split a byte stream into lines without readline's overhead. A partial last
// line is kept until the next chunk or until `end()`; an absurdly long line
// (no newline within maxLine bytes) is cut and reported, never buffered forever.
export class LineSplitter {
  private rest = '';
  /** Inside an overlong line that was cut: drop everything up to its newline. */
  private skipping = false;
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 1 << 20,
    private readonly onOverlong: (len: number) => void = () => undefined,
  ) {}

  push(chunk: string): void {
    let data = this.rest + chunk;
    let start = 0;
    if (this.skipping) {
      // The tail of a cut line is not a line of its own.
      const nl = data.indexOf('\n');
      if (nl < 0) return;
      this.skipping = false;
      start = nl + 1;
    }
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl < 0) break;
      this.onLine(data.slice(start, nl));
      start = nl + 1;
    }
    data = data.slice(start);
    if (data.length > this.maxLine) {
      this.onOverlong(data.length);
      data = '';
      this.skipping = true;
    }
    this.rest = data;
  }

  end(): void {
    if (this.rest.length > 0) this.onLine(this.rest);
    this.rest = '';
    this.skipping = false;
  }
}

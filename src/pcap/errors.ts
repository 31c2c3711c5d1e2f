// Per-file problems with a capture. The CLI reports them per file (exit code
// 6 when any file failed) and goes on with the next file: one bad capture
// never stops the others, and what was read before the problem is kept.
import { DroptraceError } from '../errors.js';

export class CaptureError extends DroptraceError {
  constructor(readonly file: string, message: string, hint?: string) {
    super(`${file}: ${message}`, { exitCode: 6, hint });
  }
}

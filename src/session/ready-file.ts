// --ready-file: written atomically (temp + rename) once every probe is
// attached, and rewritten after a restart so tests can see the new pid.
import { writeFileSync, renameSync } from 'node:fs';

export function writeReadyFile(path: string, content: object): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(content) + '\n', { mode: 0o644 });
  renameSync(tmp, path);
}

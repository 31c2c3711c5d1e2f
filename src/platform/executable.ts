// Whether a path is a file this process may execute (bpftrace, the diagnosis tools).
import { accessSync, constants, statSync } from 'node:fs';

export function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

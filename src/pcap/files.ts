// Command-line arguments → capture files: a directory stands for its regular
// files (not recursive, hidden files and droptrace's own state files left
// out), sorted by name; a tcpdump -W rotation is then in rotation order
// except across its wrap-around, which the analysis tolerates (a file that
// does not continue the carried state starts fresh).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';

export function expandCaptureArgs(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    const st = statSync(a, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      const names = readdirSync(a).filter((n) => !n.startsWith('.') && !n.startsWith('pcap-state-')).sort();
      const files = names.map((n) => join(a, n)).filter((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
      if (files.length === 0) throw new UsageError(`directory ${a} holds no files`);
      out.push(...files);
    } else out.push(a); // missing or special files are reported per file
  }
  return out;
}

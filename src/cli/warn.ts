// A warning about how droptrace was invoked (an older option name), on stderr.
import { escapeForTerminal } from '../text/escape.js';

export function warnOnStderr(message: string): void {
  process.stderr.write(`droptrace: warning: ${escapeForTerminal(message)}\n`);
}

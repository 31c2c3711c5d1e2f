// The CLI's single exit point. Commands live in ./commands/<name>.ts and are
// imported only when invoked, so `droptrace --help` stays fast and a broken
// optional dependency of one command cannot break the others.
import yargs, { type Argv } from 'yargs';
import { DroptraceError } from '../errors.js';
import { redact, registerSecretEnv } from '../text/redact.js';
import { helpWidth, rewrapHelp } from './help-wrap.js';

interface LazyCommand {
  name: string;
  describe: string;
  load: () => Promise<{ builder: (y: Argv) => Argv; handler: (argv: Record<string, unknown>) => Promise<void> }>;
}

const COMMANDS: LazyCommand[] = [
  { name: 'tail', describe: 'Stream drop and retransmit events live', load: () => import('./commands/tail.js') },
  { name: 'top', describe: 'Live full-screen view of the flows, reasons and locations losing the most packets', load: () => import('./commands/top.js') },
  { name: 'run', describe: 'The sidecar: all probes, per-flow aggregation, files and Elasticsearch', load: () => import('./commands/run.js') },
  { name: 'counters', describe: 'Kernel loss counters per network namespace as rates against their baselines, storms flagged', load: () => import('./commands/counters.js') },
  { name: 'doctor', describe: 'Trace and read counters and configuration for a while, then explain the losses: cause, evidence, check, fix', load: () => import('./commands/doctor.js') },
  { name: 'pcap', describe: 'TCP loss per flow and direction from capture files (pcap/pcapng; the tcpdump -z analyser)', load: () => import('./commands/pcap.js') },
  { name: 'probes', describe: 'Show what this kernel and bpftrace allow, per signal', load: () => import('./commands/probes.js') },
  { name: 'setup', describe: 'Install Elasticsearch templates/data streams (setup elasticsearch) or Kibana assets (setup kibana)', load: () => import('./commands/setup.js') },
];

/**
 * Parse with yargs capturing its own output (help, version) instead of
 * printing it: help comes back unwrapped (.wrap(null)) and is wrapped at word
 * boundaries here (help-wrap.ts). Returns argv and whether output was shown.
 */
async function parseShowing(y: Argv, args: string[]): Promise<{ argv: Record<string, unknown>; shown: boolean }> {
  let output = '';
  const argv = (await y.parseAsync(args, {}, (_err, _argv, out) => {
    output = out ?? '';
  })) as Record<string, unknown>;
  if (output) process.stdout.write(rewrapHelp(output, helpWidth()) + '\n');
  return { argv, shown: output !== '' };
}

export async function main(args: string[]): Promise<void> {
  let code = 0;
  // Secrets in the environment are masked in every message from now on.
  registerSecretEnv();
  try {
    const cli = yargs(args)
      .scriptName('droptrace')
      .usage('$0 <command> [options]\n\nWhere does the kernel lose my packets? Which flow, which direction, which function, why.')
      .strict()
      .demandCommand(1, 'Name a command, e.g. `droptrace tail`.')
      .recommendCommands()
      .help()
      .version()
      .exitProcess(false)
      .wrap(null)
      .fail((msg, err) => {
        throw fromYargs(msg, err);
      });
    for (const c of COMMANDS) {
      cli.command(
        c.name,
        c.describe,
        // yargs needs the builder synchronously; we load the module lazily in
        // the middleware below and only then apply its options.
        (y) => y,
        async () => undefined,
      );
    }
    // Resolve the command first, then load only that module and re-parse with its options.
    const first = args.find((a) => !a.startsWith('-'));
    const chosen = COMMANDS.find((c) => c.name === first);
    if (chosen) {
      const mod = await chosen.load();
      const subArgs = args.slice(args.indexOf(chosen.name) + 1);
      const sub = yargs(subArgs)
        .scriptName(`droptrace ${chosen.name}`)
        .usage(`$0 [options]\n\n${chosen.describe}`)
        .strict()
        .help()
        // Never let yargs call process.exit: main() is the one exit point.
        .exitProcess(false)
        .wrap(null)
        .fail((msg, err) => {
          throw fromYargs(msg, err);
        });
      const { argv, shown } = await parseShowing(mod.builder(sub), subArgs);
      if (argv.help || shown) return;
      await mod.handler(argv);
    } else {
      await parseShowing(cli, args);
    }
  } catch (err) {
    code = report(err);
  }
  process.exitCode = code;
}

// yargs reports some parse errors (e.g. "Not enough arguments following: X"
// for requiresArg) as a YError in `err` rather than in `msg`: those are usage
// errors too, not bugs. Anything else thrown inside yargs is passed through.
function fromYargs(msg: string | null | undefined, err: Error | undefined): Error {
  if (err && err.name !== 'YError') return err;
  return new UsageErrorFromYargs(msg || err?.message || 'invalid arguments');
}

class UsageErrorFromYargs extends DroptraceError {
  constructor(msg: string) {
    super(msg, { exitCode: 2, hint: 'Run with --help to see the options.' });
  }
}

// Terminal controls (but not the backslash: values in messages are already
// escaped where they were quoted, and would show doubled).
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/gu;

/** Every message leaves with secrets masked and terminal controls escaped (its own line breaks kept). */
const clean = (s: string) =>
  redact(s).replace(CONTROLS, (c) => {
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });

function report(err: unknown): number {
  if (err instanceof DroptraceError) {
    process.stderr.write(`droptrace: error: ${clean(err.message)}\n`);
    if (err.hint) process.stderr.write(`  hint: ${clean(err.hint)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`droptrace: internal error (this is a bug, please report it):\n${clean((err as Error)?.stack ?? String(err))}\n`);
  return 70;
}

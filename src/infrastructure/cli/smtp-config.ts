#!/usr/bin/env node
// `smtp-config`: the one operator command. Every subcommand uses the server's environment
// (DATA_DIR, DATABASE_URL, EVENTSTORE_CONNECTION_STRING, …; see src/infrastructure/config.ts).
//
// Exit codes: 0 done; 1 failed, or a check found a difference (verify, copy); 2 usage or
// configuration error; 130 interrupted by SIGINT (rebuild, copy, import and export resume when run again).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isDomainError } from '../../domain/index.js';
import { ConfigError } from '../config.js';
import { EXIT, output, UsageError } from './cli-output.js';
import { isMainModule } from './main-module.js';

// Each command loads its own code when it runs: `--help` and a mistyped command need only commander,
// and `events export` never loads the HTTP server.
const runStart = async () => (await import('./start.js')).runStart();
const reportStartFailure = async (error: unknown) => (await import('./start.js')).reportStartFailure(error);
const runToken = async (argv: string[]) => (await import('./token.js')).runToken(argv);
const runInstance = async (argv: string[]) => (await import('./instance.js')).runInstance(argv);
const replay = () => import('./replay-commands.js');

const EXIT_CODES_HELP = `
Exit codes:
  0    done
  1    failed, or a check found a difference (projection verify, events copy)
  2    usage or configuration error
  130  interrupted (Ctrl-C); run the same command again to resume

Configuration: the server's environment variables (DATA_DIR, DATABASE_URL, DATABASE_SCHEMA,
EVENTSTORE_CONNECTION_STRING, …), so every command works on the store the server uses.`;

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number above 0');
  return n;
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The program; `exit` receives the exit code of whatever ran. */
export const buildProgram = (exit: (code: number) => void): Command => {
  const program = new Command('smtp-config')
    .description('Operate the SMTP configuration module: server, tokens, instances, event history and read model.')
    .option('--json', 'machine-readable output (one JSON object on stdout)')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', EXIT_CODES_HELP);
  const json = (cmd: Command) => output(Boolean(cmd.optsWithGlobals<{ json?: boolean }>().json));

  program
    .command('start')
    .description('run the HTTP server (what `npm start` runs)')
    .action(async () => {
      await runStart().catch(reportStartFailure);
    });

  program
    .command('token')
    .description('print a development token the server on the same DATA_DIR accepts (what `npm run token` runs)')
    .requiredOption('--instance <id-or-domain>', 'the instance, by id or domain')
    .option('--role <role>', 'a role to grant (repeatable)', collect)
    .option('--user <id>', 'the user id', 'dev-user')
    .option('--expires-in <duration>', 'lifetime, e.g. 1h', '1h')
    .option('--audience <aud>', 'the `aud` claim (default: JWT_AUDIENCE, when set)')
    .action(async (o: { instance: string; role?: string[]; user: string; expiresIn: string; audience?: string }) => {
      await runToken([
        '--instance', o.instance, ...(o.role ?? []).flatMap((r) => ['--role', r]), '--user', o.user, '--expires-in', o.expiresIn,
        ...(o.audience !== undefined ? ['--audience', o.audience] : []),
      ]);
    });

  const instance = program.command('instance').description('set up and list instances (what `npm run instance` runs)');
  instance
    .command('add')
    .description('set up an instance, or one per JSON line on stdin')
    .option('--name <name>', 'the instance name')
    .option('--domain <domain>', 'a domain (repeatable)', collect)
    .option('--stdin', 'read JSON lines {"name","domains":[…]}')
    .action(async (o: { name?: string; domain?: string[]; stdin?: boolean }) => {
      exit(await runInstance(['add', ...(o.name !== undefined ? ['--name', o.name] : []), ...(o.domain ?? []).flatMap((d) => ['--domain', d]), ...(o.stdin ? ['--stdin'] : [])]));
    });
  instance
    .command('list')
    .description('list instances as JSON lines')
    .action(async () => exit(await runInstance(['list'])));

  const events = program.command('events').description('move the event history: export, import, copy to another store');
  events
    .command('export')
    .description('write events as JSON lines (format: README, "The operator CLI: smtp-config") to stdout or --out')
    .option('--after <position>', 'only events after this position (commit/prepare, as in the export)')
    .option('--stream-prefix <prefix>', 'only streams starting with this (repeatable)', collect)
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (o: { after?: string; streamPrefix?: string[]; out?: string }, cmd: Command) => exit(await (await replay()).eventsExport(o, json(cmd))));
  events
    .command('import')
    .description('append exported events, keeping stream revisions and event ids; importing twice adds nothing')
    .option('--in <file>', 'read from a file instead of stdin')
    .action(async (o: { in?: string }, cmd: Command) => exit(await (await replay()).eventsImport(o, json(cmd))));
  events
    .command('copy')
    .description('copy the whole history into another store, resumably, and compare counts and hashes of both sides')
    .requiredOption('--to <target>', 'postgres://… URL, esdb://… connection string, or a data directory (SQLite)')
    .option('--to-schema <schema>', 'the PostgreSQL schema of the target (default: DATABASE_SCHEMA)')
    .action(async (o: { to: string; toSchema?: string }, cmd: Command) => exit(await (await replay()).eventsCopy(o, json(cmd))));

  const projection = program.command('projection').description('the SMTP read model: status, rebuild, verify');
  projection
    .command('status')
    .description("the read model's checkpoint, the events' head, and the lag in events and seconds")
    .action(async (_o: unknown, cmd: Command) => exit(await (await replay()).projectionStatus(json(cmd))));
  projection
    .command('rebuild')
    .description('rebuild into a shadow read model while the live one serves, then switch atomically; resumable')
    .addOption(new Option('--restart', 'throw away an interrupted rebuild and start from the first event'))
    .addOption(new Option('--batch-size <events>', 'most events per transaction into the shadow (default 2000)').argParser(positiveInt))
    .action(async (o: { restart?: boolean; batchSize?: number }, cmd: Command) => exit(await (await replay()).projectionRebuild(o, json(cmd))));
  projection
    .command('verify')
    .description('rebuild into a shadow and compare its canonical hash with the live read model; exit 1 naming the first differing rows')
    .action(async (_o: unknown, cmd: Command) => exit(await (await replay()).projectionVerify(json(cmd))));

  for (const cmd of [program, ...allCommands(program)]) cmd.exitOverride().addHelpText('after', cmd === program ? '' : '\nExit codes: 0 done, 1 failed or differs, 2 usage, 130 interrupted (resumable).');
  return program;
};

const allCommands = (cmd: Command): Command[] => cmd.commands.flatMap((c) => [c, ...allCommands(c)]);

/** Runs the program on `argv` (without node and the script); resolves to the exit code. */
export const runSmtpConfig = async (argv: readonly string[]): Promise<number> => {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and `help` exit 0; help shown because a command is missing (`smtp-config projection`)
      // is a usage error, whatever commander calls it: a script must not take it for work done.
      return error.exitCode === 0 && ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code) ? EXIT.ok : EXIT.usage;
    }
    const asJson = argv.includes('--json');
    const message = error instanceof Error ? error.message : String(error);
    const usage = error instanceof UsageError || error instanceof ConfigError;
    process.stderr.write(
      asJson ? `${JSON.stringify({ error: { ...(isDomainError(error) ? { id: error.id } : {}), name: error instanceof Error ? error.name : 'Error', message } })}\n` : `smtp-config: ${message}\n`,
    );
    return usage ? EXIT.usage : EXIT.failed;
  }
};

/**
 * Resolves once what was written to `stream` has left the process. To a file or a terminal that is
 * at once; to a pipe whose reader is slower (`| gzip`, `| ssh …`) Node keeps a queue, which
 * process.exit would throw away: `instance list | …` lost its last thousands of lines.
 */
export const drained = async (stream: NodeJS.WriteStream): Promise<void> => {
  while (!stream.destroyed && !stream.errored && stream.writableLength > 0) await new Promise((r) => setTimeout(r, 5));
};

if (isMainModule(import.meta.url)) {
  const isStart = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'start';
  // A reader that went away (`| head`) ends a tool's output; it is not a failure to report with a trace.
  if (!isStart) for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  void runSmtpConfig(process.argv.slice(2)).then(async (code) => {
    // `start` keeps running: it ends the process itself. Every other command is done: leave once
    // its output is out, whatever timers a store or runner left behind.
    if (isStart) process.exitCode = code;
    else {
      await Promise.all([drained(process.stdout), drained(process.stderr)]);
      process.exit(code);
    }
  });
}

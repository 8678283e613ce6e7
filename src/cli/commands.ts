/**
 * The commands of the command-line tool, behind main.ts: picks the command (agent.ts, client-commands.ts,
 * event-commands.ts), parses its flags (command.ts) and turns errors into exit codes. `scuttlebutt agent`
 * runs one node with a local HTTP API; the other subcommands talk to a running agent over that API
 * (docs/cli.md). Every flag can also come from an environment variable SCUTTLEBUTT_<FLAG> (e.g.
 * SCUTTLEBUTT_KEY_FILE); a flag wins.
 */
import { fail, UsageError } from './usage.js';
import { parse, type Command } from './command.js';
import { AGENT } from './agent.js';
import { CLIENT_COMMANDS } from './client-commands.js';
import { EVENT_COMMANDS } from './event-commands.js';

const COMMANDS: Record<string, Command> = { agent: AGENT, ...CLIENT_COMMANDS, ...EVENT_COMMANDS };

const USAGE =
  `usage:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  scuttlebutt ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

scuttlebutt COMMAND --help shows a command's flags. ` +
  'Flags can also be set as SCUTTLEBUTT_<FLAG> environment variables (a flag wins). docs/cli.md has it all.';

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command === undefined) {
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (command === '-h' || command === '--help') return void process.stdout.write(`${USAGE}\n`);
  if (command === 'help') {
    const about = rest[0];
    if (about === undefined) return void process.stdout.write(`${USAGE}\n`);
    const c = Object.hasOwn(COMMANDS, about) ? COMMANDS[about] : undefined;
    if (!c) fail(`unknown command "${about}"`);
    return void process.stdout.write(`${c.usage}\n`);
  }
  const cmd = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!cmd)
    fail(
      command.startsWith('-') ? `unknown option "${command}" (a command comes first)` : `unknown command "${command}"`,
    );
  const { values, positionals, help } = parse(command, cmd, rest);
  if (help) return void process.stdout.write(`${cmd.usage}\n`);
  await cmd.run(values, positionals);
}

main().catch((err: unknown) => {
  const e = err as Error;
  if (err instanceof UsageError) {
    const c = err.command && Object.hasOwn(COMMANDS, err.command) ? COMMANDS[err.command] : undefined;
    process.stderr.write(`scuttlebutt: ${e.message}\n\n${c ? c.usage : USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`scuttlebutt: ${e.message}\n`);
  process.exit(1);
});

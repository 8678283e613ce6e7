/**
 * What every subcommand shares: its shape (summary, usage, flags, run), the flag parser that
 * reads flags, then SCUTTLEBUTT_<FLAG> environment variables, then defaults, and the small
 * checks of flag values the commands have in common.
 */
import { parseArgs } from 'node:util';
import type { AgentTarget } from './client.js';
import { readTokenFile } from './http-token.js';
import { fail } from './usage.js';

export const DEFAULT_HTTP = '127.0.0.1:7946';

export type Flag = {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  default?: string | boolean;
  env?: boolean;
  /** A repeatable flag whose variable holds one value, commas included, instead of a comma-separated list. */
  envWhole?: boolean;
};

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly flags: Record<string, Flag>;
  /** How many positionals, [min, max]. */
  readonly positionals?: readonly [number, number];
  run(values: FlagValues, positionals: string[]): Promise<void>;
}

/** The flags of every subcommand that talks to a running agent. */
export const HTTP_FLAG: Record<string, Flag> = {
  http: { type: 'string', default: DEFAULT_HTTP, env: true },
  'http-token-file': { type: 'string', env: true },
};
export const HTTP_HELP = `  --http HOST:PORT          the agent's API (default ${DEFAULT_HTTP}; env SCUTTLEBUTT_HTTP)
  --http-token-file PATH    the agent's write token, when it has one (env SCUTTLEBUTT_HTTP_TOKEN_FILE)`;

const envName = (flag: string): string => `SCUTTLEBUTT_${flag.toUpperCase().replace(/-/g, '_')}`;

/**
 * Flags, then environment variables, then defaults. A repeatable flag's variable holds a
 * comma-separated list; a boolean's holds 1/true/yes or 0/false/no.
 */
export function parse(
  name: string,
  cmd: Command,
  argv: string[],
): { values: FlagValues; positionals: string[]; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [flag, f] of Object.entries(cmd.flags))
    options[flag] = { type: f.type, ...(f.multiple ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    fail((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), name);
  }
  const values = { ...parsed.values } as FlagValues;
  if (values.help === true) return { values, positionals: parsed.positionals, help: true };
  for (const [flag, f] of Object.entries(cmd.flags)) {
    if (values[flag] !== undefined) continue;
    const raw = f.env ? process.env[envName(flag)] : undefined;
    if (raw !== undefined && raw !== '') {
      if (f.type === 'boolean') {
        if (/^(1|true|yes)$/i.test(raw)) values[flag] = true;
        else if (/^(0|false|no)$/i.test(raw)) values[flag] = false;
        else fail(`${envName(flag)} must be 1, true, yes, 0, false or no (got "${raw}")`, name);
      } else
        values[flag] = f.multiple
          ? f.envWhole
            ? [raw]
            : raw
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
          : raw;
    } else if (f.default !== undefined) values[flag] = f.default;
  }
  const [min, max] = cmd.positionals ?? [0, 0];
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    fail(
      max === 0
        ? `${name} takes no arguments (got "${parsed.positionals[0]}")`
        : `${name} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}`,
      name,
    );
  }
  return { values, positionals: parsed.positionals, help: false };
}

export const str = (v: unknown): string => v as string;

/** The agent a subcommand's --http and --http-token-file name. */
export function agentTarget(values: Record<string, unknown>): AgentTarget {
  const file = values['http-token-file'];
  return { http: str(values.http), token: file === undefined ? undefined : readTokenFile(str(file)) };
}

export function intFlag(name: string, v: unknown, min: number, command = 'agent'): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min} (got "${String(v)}")`, command);
  return n;
}

export function parseTags(list: string[], flag: string, command: string): Record<string, string> {
  const tags = Object.create(null) as Record<string, string>;
  for (const t of list) {
    const eq = t.indexOf('=');
    if (eq <= 0) fail(`${flag} must be KEY=VALUE (got "${t}")`, command);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return tags;
}

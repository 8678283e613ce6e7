#!/usr/bin/env node
/**
 * The command-line tool: `scuttlebutt agent` runs one node with a local HTTP API; the other
 * subcommands talk to a running agent over that API (docs/cli.md). Every flag can also come from
 * an environment variable SCUTTLEBUTT_<FLAG> (e.g. SCUTTLEBUTT_KEY_FILE); a flag wins.
 */
// First: it must run before the other modules load (see the module).
import './young-generation.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createScuttlebutt } from '../runtime/scuttlebutt.js';
import { defaultLanConfig, defaultWanConfig, isLoopbackHost, parseHostPort, type ConfigOverrides } from '../runtime/config.js';
import { DiscoveryError, dnsServerProblem, parseSeed } from '../runtime/discovery.js';
import { startHttpApi } from './http-api.js';
import { agentLogger, isLogLevel, LOG_LEVELS } from './log.js';
import { instrument } from './metrics.js';
import { api, post, sse, table, type AgentTarget, type MemberJson } from './client.js';
import { readTokenFile } from './http-token.js';
import { fail, UsageError } from './usage.js';

const DEFAULT_HTTP = '127.0.0.1:7946';

type Flag = { type: 'string' | 'boolean'; multiple?: boolean; short?: string; default?: string | boolean; env?: boolean };

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly flags: Record<string, Flag>;
  /** How many positionals, [min, max]. */
  readonly positionals?: readonly [number, number];
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<void>;
}

const HTTP_FLAG: Record<string, Flag> = { http: { type: 'string', default: DEFAULT_HTTP, env: true }, 'http-token-file': { type: 'string', env: true } };
const HTTP_HELP = `  --http HOST:PORT          the agent's API (default ${DEFAULT_HTTP}; env SCUTTLEBUTT_HTTP)
  --http-token-file PATH    the agent's write token, when it has one (env SCUTTLEBUTT_HTTP_TOKEN_FILE)`;

const envName = (flag: string): string => `SCUTTLEBUTT_${flag.toUpperCase().replace(/-/g, '_')}`;

/**
 * Flags, then environment variables, then defaults. A repeatable flag's variable holds a
 * comma-separated list; a boolean's holds 1/true/yes or 0/false/no.
 */
function parse(name: string, cmd: Command, argv: string[]): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[]; help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [flag, f] of Object.entries(cmd.flags)) options[flag] = { type: f.type, ...(f.multiple ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    fail((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), name);
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  if (values.help === true) return { values, positionals: parsed.positionals, help: true };
  for (const [flag, f] of Object.entries(cmd.flags)) {
    if (values[flag] !== undefined) continue;
    const raw = f.env ? process.env[envName(flag)] : undefined;
    if (raw !== undefined && raw !== '') {
      if (f.type === 'boolean') {
        if (/^(1|true|yes)$/i.test(raw)) values[flag] = true;
        else if (/^(0|false|no)$/i.test(raw)) values[flag] = false;
        else fail(`${envName(flag)} must be 1, true, yes, 0, false or no (got "${raw}")`, name);
      } else values[flag] = f.multiple ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
    } else if (f.default !== undefined) values[flag] = f.default;
  }
  const [min, max] = cmd.positionals ?? [0, 0];
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    fail(max === 0 ? `${name} takes no arguments (got "${parsed.positionals[0]}")` : `${name} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}`, name);
  }
  return { values, positionals: parsed.positionals, help: false };
}

function parseKey(line: string, n: number): Buffer {
  const text = line.trim();
  const bytes = /^[0-9a-fA-F]+$/.test(text) && [32, 48, 64].includes(text.length) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (![16, 24, 32].includes(bytes.length)) fail(`--key-file line ${n}: a key must be 16, 24 or 32 bytes as hex or base64 (got ${bytes.length} bytes; make one with: scuttlebutt keygen)`);
  return bytes;
}

function readKeyFile(path: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(`--key-file: cannot read ${path}: ${(err as Error).message}`);
  }
  const keys = text.split('\n').map((l, i) => [l, i + 1] as const).filter(([l]) => l.trim() !== '').map(([l, n]) => parseKey(l, n));
  if (keys.length === 0) fail(`--key-file ${path} holds no key`);
  return keys;
}

const str = (v: unknown): string => v as string;

/** The agent a subcommand's --http and --http-token-file name. */
function agentTarget(values: Record<string, unknown>): AgentTarget {
  const file = values['http-token-file'];
  return { http: str(values.http), token: file === undefined ? undefined : readTokenFile(str(file)) };
}

function intFlag(name: string, v: unknown, min: number, command = 'agent'): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min} (got "${String(v)}")`, command);
  return n;
}

function parseTags(list: string[], flag: string, command: string): Record<string, string> {
  const tags = Object.create(null) as Record<string, string>;
  for (const t of list) {
    const eq = t.indexOf('=');
    if (eq <= 0) fail(`${flag} must be KEY=VALUE (got "${t}")`, command);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return tags;
}

async function runAgent(values: Record<string, unknown>): Promise<void> {
  const bind = str(values.bind);
  const parsedBind = parseHostPort(bind);
  if (!parsedBind) fail(`--bind must be HOST:PORT (got "${bind}")`, 'agent');
  if (values.advertise !== undefined && !parseHostPort(str(values.advertise))) fail(`--advertise must be HOST:PORT (got "${str(values.advertise)}")`, 'agent');
  const httpAddr = str(values.http);
  const parsedHttp = parseHostPort(httpAddr);
  if (!parsedHttp) fail(`--http must be HOST:PORT (got "${httpAddr}")`, 'agent');
  if (values.profile !== 'lan' && values.profile !== 'wan') fail(`--profile must be lan or wan (got "${str(values.profile)}")`, 'agent');
  const flowControl = str(values['flow-control']);
  if (flowControl !== 'on' && flowControl !== 'off') fail(`--flow-control must be on or off (got "${flowControl}")`, 'agent');
  const tags = parseTags((values.tag as string[] | undefined) ?? [], '--tag', 'agent');
  const seeds = ((values.join as string[] | undefined) ?? []).flatMap((j) => j.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  for (const s of seeds) {
    try {
      parseSeed(s);
    } catch (err) {
      fail(`--join: ${(err as Error).message}`, 'agent');
    }
  }
  const dnsServers = (values['dns-server'] as string[] | undefined) ?? [];
  for (const d of dnsServers) {
    const problem = dnsServerProblem(d);
    if (problem) fail(`--dns-server ${problem}`, 'agent');
  }
  const keyFile = values['key-file'] as string | undefined;
  const secretKeys = keyFile ? readKeyFile(keyFile) : [];
  // Secure by default (CockroachDB's model): plaintext beyond loopback only when asked for by name.
  if (secretKeys.length === 0 && !isLoopbackHost(parsedBind.host) && values.insecure !== true) {
    fail(
      `--bind ${bind} reaches beyond this host and no --key-file is given: anyone who can reach the port could read the membership and forge state. ` +
        'Give --key-file (make a key with: scuttlebutt keygen > key; the same file on every agent), or pass --insecure to gossip in plaintext on a network you trust.',
      'agent',
    );
  }
  const tokenFile = values['http-token-file'] as string | undefined;
  const writeToken = tokenFile === undefined ? undefined : readTokenFile(tokenFile);
  if (writeToken === undefined && !isLoopbackHost(parsedHttp.host) && values.insecure !== true) {
    fail(
      `--http ${httpAddr} reaches beyond this host and no --http-token-file is given: anyone who can reach it could change this agent's metadata or make it leave. ` +
        'Give --http-token-file (make a token with: scuttlebutt keygen > http-token; reads stay open for probes and Prometheus), or pass --insecure on a network you trust.',
      'agent',
    );
  }
  const interval = intFlag('interval-ms', values['interval-ms'], 10);
  const eventBuffer = intFlag('event-buffer', values['event-buffer'], 1);
  const eventBufferBytes = intFlag('event-buffer-bytes', values['event-buffer-bytes'], 1024);
  const sseHeartbeatMs = intFlag('sse-heartbeat-ms', values['sse-heartbeat-ms'], 100);
  const level = str(values['log-level']);
  if (!isLogLevel(level)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`, 'agent');
  const logger = agentLogger(level);
  const overrides: ConfigOverrides = {
    clusterId: str(values.cluster),
    listenAddress: bind,
    node: { ...(values['node-id'] ? { id: str(values['node-id']) } : {}), ...(values.advertise ? { gossipPublicAddress: str(values.advertise) } : {}) },
    secretKeys,
    ...(dnsServers.length > 0 ? { dnsServers } : {}),
    logger,
    ...(interval ? { gossipIntervalMs: interval, failureDetector: { firstHeartbeatEstimateMs: interval } } : {}),
    flowControl: { enabled: flowControl === 'on' },
  };
  const config = values.profile === 'wan' ? defaultWanConfig(overrides) : defaultLanConfig(overrides);
  const node = await createScuttlebutt(config, tags);
  instrument(node);
  let stopping = false;
  const stop = async (leave: boolean): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await node.shutdown({ leave });
    await http.close();
    process.exit(0);
  };
  const http = await startHttpApi(node, httpAddr, {
    ...(eventBuffer ? { eventBuffer } : {}),
    ...(eventBufferBytes ? { eventBufferBytes } : {}),
    ...(sseHeartbeatMs ? { sseHeartbeatMs } : {}),
    onLeave: () => void stop(true),
    ...(writeToken === undefined ? {} : { writeToken }),
  });
  if (!isLoopbackHost(parsedHttp.host)) {
    logger.warn({ http: http.address }, `the HTTP API is reachable beyond loopback: anyone who reaches it reads the membership and metadata${writeToken === undefined ? ', and can change metadata and make this agent leave' : ''}; firewall it`);
  }
  // A seed that does not resolve yet (DNS not ready, the first pod of a Service) is logged by the node
  // and retried: the agent runs on.
  if (seeds.length > 0) {
    await node.join(seeds).catch((err: unknown) => {
      if (!(err instanceof DiscoveryError)) throw err;
    });
  }
  logger.info({ bind: node.boundAddress, advertise: node.self.address, api: `http://${http.address}` }, `agent ${node.self.id} gossiping on ${node.boundAddress} (advertised ${node.self.address}), API on http://${http.address}, dashboard http://${http.address}/ui`);
  process.on('SIGINT', () => void stop(true));
  process.on('SIGTERM', () => void stop(true));
  // SIGHUP re-reads the key file, so keys rotate without a restart. A file that cannot be read or
  // holds a bad key leaves the current keyring in place: a typo must not cut a node off its cluster.
  process.on('SIGHUP', () => {
    if (!keyFile) return void logger.warn({}, 'SIGHUP ignored: no --key-file to re-read');
    try {
      const keys = readKeyFile(keyFile);
      node.setSecretKeys(keys);
      logger.info({ keyFile, keys: keys.length }, `keyring reloaded from ${keyFile}: ${keys.length} key(s)`);
    } catch (err) {
      logger.error({ keyFile, err: (err as Error).message }, `keyring not reloaded, the current one stays: ${(err as Error).message}`);
    }
  });
}

const COMMANDS: Record<string, Command> = {
  agent: {
    summary: 'run a node with a local HTTP API and dashboard',
    usage: `usage: scuttlebutt agent [flags]

  --bind HOST:PORT          UDP address to gossip on (default 0.0.0.0:9111; beyond loopback it needs --key-file or --insecure)
  --advertise HOST:PORT     the address peers send to (default: derived from --bind)
  --join SEED[,...]         seeds to join through; repeatable. SEED is HOST:PORT, [IPV6]:PORT, or srv+NAME (every
                            target and port of an SRV record); a name stands for all its addresses; resolved again
                            every 30 s, new addresses are contacted
  --dns-server IP[:PORT]    DNS server for seed names instead of the system's; repeatable
  --cluster ID              cluster id (default "default")
  --node-id ID              unique node id (default: host name and a random suffix)
  --key-file PATH           keyring, one key per line (base64 or hex, 16/24/32 bytes); the first encrypts, all decrypt;
                            SIGHUP re-reads it: rotate with [old,new], then [new,old], then [new], each on every agent first
  --insecure                allow plaintext gossip, and an HTTP API without a write token, beyond loopback (a network you trust)
  --tag KEY=VALUE           initial metadata; repeatable
  --http HOST:PORT          the local HTTP API and dashboard (default ${DEFAULT_HTTP}; beyond loopback it needs
                            --http-token-file or --insecure)
  --http-token-file PATH    a token (first line, 16+ characters) every request that changes the agent must carry as
                            Authorization: Bearer TOKEN; reads (probes, /metrics, the dashboard) stay open
  --profile lan|wan         timing presets (default lan)
  --interval-ms N           gossip interval in ms (default: the preset's)
  --flow-control on|off     hold this agent's metadata writes to what gossip carries (default on; docs/protocol.md)
  --event-buffer N          events kept for /events resume (default 1000)
  --event-buffer-bytes N    bytes those events may hold, at least 1024 (default 1048576); the oldest go first
  --sse-heartbeat-ms N      keep-alive comment interval on /events (default 15000)
  --log-level L             trace, debug, info, warn, error, fatal or silent (default info); pino JSON lines on stderr

Every flag can come from SCUTTLEBUTT_<FLAG> instead (SCUTTLEBUTT_KEY_FILE, SCUTTLEBUTT_JOIN=a:1,b:2,
SCUTTLEBUTT_INSECURE=1, ...); a flag wins. SIGINT or SIGTERM leaves the cluster gracefully.`,
    flags: {
      bind: { type: 'string', default: '0.0.0.0:9111', env: true },
      advertise: { type: 'string', env: true },
      join: { type: 'string', multiple: true, env: true },
      'dns-server': { type: 'string', multiple: true, env: true },
      cluster: { type: 'string', default: 'default', env: true },
      'node-id': { type: 'string', env: true },
      'key-file': { type: 'string', env: true },
      insecure: { type: 'boolean', env: true },
      'http-token-file': { type: 'string', env: true },
      tag: { type: 'string', multiple: true, env: true },
      http: { type: 'string', default: DEFAULT_HTTP, env: true },
      profile: { type: 'string', default: 'lan', env: true },
      'interval-ms': { type: 'string', env: true },
      'flow-control': { type: 'string', default: 'on', env: true },
      'event-buffer': { type: 'string', env: true },
      'event-buffer-bytes': { type: 'string', env: true },
      'sse-heartbeat-ms': { type: 'string', env: true },
      'log-level': { type: 'string', default: 'info', env: true },
    },
    run: (values) => runAgent(values),
  },
  members: {
    summary: 'list the members a running agent knows',
    usage: `usage: scuttlebutt members [--status live|dead] [--tag KEY=VALUE ...] [--json] [--http HOST:PORT]

  --status live|dead  only members of this status
  --tag KEY=VALUE     only members whose metadata has KEY=VALUE; repeatable (all must match)
  --json              the API's JSON instead of a table
${HTTP_HELP}`,
    flags: { status: { type: 'string' }, tag: { type: 'string', multiple: true }, json: { type: 'boolean', default: false }, ...HTTP_FLAG },
    async run(values) {
      const q = new URLSearchParams();
      if (values.status !== undefined) {
        if (values.status !== 'live' && values.status !== 'dead') fail(`--status must be live or dead (got "${str(values.status)}")`, 'members');
        q.append('status', str(values.status));
      }
      parseTags((values.tag as string[] | undefined) ?? [], '--tag', 'members');
      for (const t of (values.tag as string[] | undefined) ?? []) q.append('tag', t);
      const qs = q.toString();
      const state = (await api(agentTarget(values), `/members${qs ? `?${qs}` : ''}`)) as { live: MemberJson[]; dead: MemberJson[] };
      if (values.json) return void process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
      const rows = [...state.live, ...state.dead].map((m) => [m.id, m.address, m.status, Object.entries(m.metadata).map(([k, v]) => `${k}=${v}`).join(' ')]);
      table(['NODE', 'ADDRESS', 'STATUS', 'METADATA'], rows);
    },
  },
  monitor: {
    summary: 'stream membership events from a running agent',
    usage: `usage: scuttlebutt monitor [--replay] [--json] [--http HOST:PORT]

Prints each event (live, dead, update, removed, ...) as it happens, until the agent goes away.
  --replay  first print the events the agent still holds (its buffer)
  --json    one JSON object per line (the /events data) instead of text
${HTTP_HELP}`,
    flags: { replay: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, ...HTTP_FLAG },
    async run(values) {
      const http = str(values.http);
      if (!parseHostPort(http)) fail(`--http must be HOST:PORT (got "${http}")`, 'monitor');
      let res: Response;
      try {
        res = await fetch(`http://${http}/events${values.replay ? '?since=start' : ''}`, { headers: { accept: 'text/event-stream' } });
      } catch {
        throw new Error(`no agent answers on http://${http} (start one with: scuttlebutt agent --http ${http})`);
      }
      if (!res.ok || !res.body) throw new Error(`http://${http}/events answered HTTP ${res.status}`);
      const events = sse(res.body);
      for (;;) {
        let next: IteratorResult<{ id?: string; event: string; data: string }>;
        try {
          next = await events.next();
        } catch {
          break; // the connection was cut: the agent died
        }
        if (next.done) break;
        const e = next.value;
        if (values.json) {
          process.stdout.write(`${e.event === 'gap' ? JSON.stringify({ type: 'gap', ...(JSON.parse(e.data) as object) }) : e.data}\n`);
          continue;
        }
        const d = JSON.parse(e.data) as { time?: string; node?: MemberJson; reason?: string; keys?: string[]; message?: string };
        if (e.event === 'gap') {
          process.stdout.write(`${new Date().toISOString()}  ${e.event.padEnd(7)}  ${d.message ?? e.data}\n`);
          continue;
        }
        if (!d.node) {
          const fields = Object.entries(d as Record<string, unknown>).filter(([k]) => k !== 'id' && k !== 'type' && k !== 'time');
          process.stdout.write(`${d.time ?? new Date().toISOString()}  ${e.event.padEnd(7)}  ${fields.map(([k, v]) => `${k}=${typeof v === 'number' ? Math.round(v * 10) / 10 : String(v)}`).join(' ')}\n`);
          continue;
        }
        const extra = d.reason ? ` (${d.reason})` : d.keys ? ` keys: ${d.keys.join(', ')}` : '';
        process.stdout.write(`${d.time}  ${e.event.padEnd(7)}  ${d.node.id}  ${d.node.address}  generation ${d.node.generation}${extra}\n`);
      }
      throw new Error(`the event stream from http://${http} ended (the agent stopped)`);
    },
  },
  join: {
    summary: 'make a running agent join through seeds',
    usage: `usage: scuttlebutt join HOST:PORT [HOST:PORT ...] [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [1, 256],
    async run(values, positionals) {
      // The agent checks the seeds (and knows every seed syntax it accepts); its message is printed.
      const seeds = positionals.flatMap((p) => p.split(',')).filter(Boolean);
      const r = (await post(agentTarget(values), '/join', { seeds })) as { seeds: string[] };
      process.stdout.write(`joining through ${r.seeds.join(', ')}\n`);
    },
  },
  leave: {
    summary: 'make a running agent leave the cluster gracefully and exit',
    usage: `usage: scuttlebutt leave [--http HOST:PORT]

Every live peer is told at once; the agent then stops.
${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    async run(values) {
      const r = (await post(agentTarget(values), '/leave', {})) as { left: string };
      process.stdout.write(`${r.left} left the cluster\n`);
    },
  },
  'force-leave': {
    summary: 'remove a dead member now, cluster-wide',
    usage: `usage: scuttlebutt force-leave NODE_ID [--http HOST:PORT]

A dead member is removed from the agent's membership at once and marked left on every live peer,
so it is not revived by stale gossip. A live member is refused (it would gossip its way back).
${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [1, 1],
    async run(values, positionals) {
      await post(agentTarget(values), '/force-leave', { node: positionals[0] });
      process.stdout.write(`${positionals[0]} removed\n`);
    },
  },
  keygen: {
    summary: 'print a fresh random key for --key-file',
    usage: `usage: scuttlebutt keygen [--bytes 16|24|32]

Prints a random key in base64 (32 bytes, AES-256, by default): scuttlebutt keygen > /etc/scuttlebutt/keys`,
    flags: { bytes: { type: 'string', default: '32' } },
    run(values) {
      const n = Number(values.bytes);
      if (![16, 24, 32].includes(n)) fail(`--bytes must be 16, 24 or 32 (got "${str(values.bytes)}")`, 'keygen');
      process.stdout.write(`${randomBytes(n).toString('base64')}\n`);
      return Promise.resolve();
    },
  },
  get: {
    summary: "print one member's metadata key",
    usage: `usage: scuttlebutt get NODE_ID KEY [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [2, 2],
    async run(values, [id, key]) {
      const r = (await api(agentTarget(values), `/kv/${encodeURIComponent(id as string)}/${encodeURIComponent(key as string)}`)) as { value: string };
      process.stdout.write(`${r.value}\n`);
    },
  },
  set: {
    summary: "set a key of the agent's own metadata",
    usage: `usage: scuttlebutt set KEY VALUE [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [2, 2],
    async run(values, [key, value]) {
      await api(agentTarget(values), `/kv/${encodeURIComponent(key as string)}`, { method: 'PUT', body: value as string });
    },
  },
  delete: {
    summary: "delete a key of the agent's own metadata",
    usage: `usage: scuttlebutt delete KEY [--http HOST:PORT]

${HTTP_HELP}`,
    flags: { ...HTTP_FLAG },
    positionals: [1, 1],
    async run(values, [key]) {
      await api(agentTarget(values), `/kv/${encodeURIComponent(key as string)}`, { method: 'DELETE' });
    },
  },
};

const USAGE = `usage:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  scuttlebutt ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

scuttlebutt COMMAND --help shows a command's flags. Flags can also be set as SCUTTLEBUTT_<FLAG> environment variables (a flag wins). docs/cli.md has it all.`;

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
  if (!cmd) fail(command.startsWith('-') ? `unknown option "${command}" (a command comes first)` : `unknown command "${command}"`);
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

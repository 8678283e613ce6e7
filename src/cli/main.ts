#!/usr/bin/env node
/**
 * The command-line agent: `scuttlebutt agent` runs one node with a local HTTP API;
 * `members`, `get` and `set` talk to a running agent over that API.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createScuttlebutt } from '../runtime/scuttlebutt.js';
import { defaultLanConfig, defaultWanConfig, parseHostPort, type ConfigOverrides } from '../runtime/config.js';
import type { Logger } from '../runtime/api.js';
import { DiscoveryError, dnsServerProblem, parseSeed } from '../runtime/discovery.js';
import { startHttpApi } from './http-api.js';

const USAGE = `usage:
  scuttlebutt agent [--bind HOST:PORT] [--advertise HOST:PORT] [--join SEED[,SEED...]] [--dns-server IP[:PORT] ...]
                    [--cluster ID] [--node-id ID] [--key-file PATH] [--tag KEY=VALUE ...]
                    [--http HOST:PORT] [--profile lan|wan] [--interval-ms N] [--log-level debug|info|warn|error|silent]
  scuttlebutt members [--http HOST:PORT] [--json]
  scuttlebutt get NODE_ID KEY [--http HOST:PORT]
  scuttlebutt set KEY VALUE [--http HOST:PORT]
  scuttlebutt delete KEY [--http HOST:PORT]

--join: SEED is HOST:PORT, [IPV6]:PORT, or srv+NAME (every target and port of an SRV record); a name
        stands for all its addresses; resolved again every 30 s, new addresses are contacted.
--key-file: one key per line, base64 or hex, 16/24/32 bytes; the first encrypts, all decrypt.
            SIGHUP re-reads it: rotate with [old,new], then [new,old], then [new], each on every agent first.
--http defaults to 127.0.0.1:7946 (the agent's local API; keep it on loopback).`;

const DEFAULT_HTTP = '127.0.0.1:7946';

class UsageError extends Error {}

function fail(message: string): never {
  throw new UsageError(message);
}

function parseKey(line: string, n: number): Buffer {
  const text = line.trim();
  const bytes = /^[0-9a-fA-F]+$/.test(text) && [32, 48, 64].includes(text.length) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (![16, 24, 32].includes(bytes.length)) fail(`--key-file line ${n}: a key must be 16, 24 or 32 bytes as hex or base64 (got ${bytes.length} bytes)`);
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

function consoleLogger(level: string): Logger | undefined {
  const levels = ['debug', 'info', 'warn', 'error'];
  const min = levels.indexOf(level);
  if (level === 'silent') return undefined;
  if (min < 0) fail(`--log-level must be one of debug, info, warn, error, silent (got "${level}")`);
  const at = (l: string) => (obj: object, msg?: string) => {
    if (levels.indexOf(l) >= min) process.stderr.write(`${JSON.stringify({ level: l, time: new Date().toISOString(), msg, ...obj })}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function agent(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      bind: { type: 'string', default: '0.0.0.0:9111' },
      advertise: { type: 'string' },
      join: { type: 'string', multiple: true },
      'dns-server': { type: 'string', multiple: true },
      cluster: { type: 'string', default: 'default' },
      'node-id': { type: 'string' },
      'key-file': { type: 'string' },
      tag: { type: 'string', multiple: true },
      http: { type: 'string', default: DEFAULT_HTTP },
      profile: { type: 'string', default: 'lan' },
      'interval-ms': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
    },
    strict: true,
  });
  if (!parseHostPort(values.bind)) fail(`--bind must be HOST:PORT (got "${values.bind}")`);
  if (values.advertise !== undefined && !parseHostPort(values.advertise)) fail(`--advertise must be HOST:PORT (got "${values.advertise}")`);
  if (!parseHostPort(values.http)) fail(`--http must be HOST:PORT (got "${values.http}")`);
  if (values.profile !== 'lan' && values.profile !== 'wan') fail(`--profile must be lan or wan (got "${values.profile}")`);
  const tags: Record<string, string> = {};
  for (const t of values.tag ?? []) {
    const eq = t.indexOf('=');
    if (eq <= 0) fail(`--tag must be KEY=VALUE (got "${t}")`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  const seeds = (values.join ?? []).flatMap((j) => j.split(',')).filter((s) => s.length > 0);
  for (const s of seeds) {
    try {
      parseSeed(s);
    } catch (err) {
      fail(`--join: ${(err as Error).message}`);
    }
  }
  const dnsServers = values['dns-server'] ?? [];
  for (const d of dnsServers) {
    const problem = dnsServerProblem(d);
    if (problem) fail(`--dns-server ${problem}`);
  }
  const keyFile = values['key-file'];
  const secretKeys = keyFile ? readKeyFile(keyFile) : [];
  let interval: number | undefined;
  if (values['interval-ms'] !== undefined) {
    interval = Number(values['interval-ms']);
    if (!Number.isInteger(interval) || interval < 10) fail(`--interval-ms must be an integer >= 10 (got "${values['interval-ms']}")`);
  }
  const overrides: ConfigOverrides = {
    clusterId: values.cluster,
    listenAddress: values.bind,
    node: { ...(values['node-id'] ? { id: values['node-id'] } : {}), ...(values.advertise ? { gossipPublicAddress: values.advertise } : {}) },
    secretKeys,
    ...(dnsServers.length > 0 ? { dnsServers } : {}),
    logger: consoleLogger(values['log-level']),
    ...(interval ? { gossipIntervalMs: interval, failureDetector: { firstHeartbeatEstimateMs: interval } } : {}),
  };
  const config = values.profile === 'wan' ? defaultWanConfig(overrides) : defaultLanConfig(overrides);
  const node = await createScuttlebutt(config, tags);
  const http = await startHttpApi(node, values.http);
  // A seed that does not resolve yet (DNS not ready, the first pod of a Service) is logged by the node
  // and retried: the agent runs on.
  if (seeds.length > 0) await node.join(seeds).catch((err: unknown) => {
    if (!(err instanceof DiscoveryError)) throw err;
  });
  if (values['log-level'] !== 'silent') process.stderr.write(`agent ${node.self.id} gossiping on ${node.boundAddress} (advertised ${node.self.address}), API on http://${http.address}\n`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await node.shutdown();
    await http.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // SIGHUP re-reads the key file, so keys rotate without a restart. A file that cannot be read or
  // holds a bad key leaves the current keyring in place: a typo must not cut a node off its cluster.
  process.on('SIGHUP', () => {
    if (!keyFile) return void process.stderr.write('scuttlebutt: SIGHUP ignored: no --key-file to re-read\n');
    try {
      const keys = readKeyFile(keyFile);
      node.setSecretKeys(keys);
      if (values['log-level'] !== 'silent') process.stderr.write(`keyring reloaded from ${keyFile}: ${keys.length} key(s)\n`);
    } catch (err) {
      process.stderr.write(`scuttlebutt: keyring not reloaded, the current one stays: ${(err as Error).message}\n`);
    }
  });
}

async function api(http: string, path: string, init?: RequestInit): Promise<unknown> {
  if (!parseHostPort(http)) fail(`--http must be HOST:PORT (got "${http}")`);
  let res: Response;
  try {
    res = await fetch(`http://${http}${path}`, init);
  } catch {
    throw new Error(`no agent answers on http://${http} (start one with: scuttlebutt agent --http ${http})`);
  }
  const body = (await res.json()) as { error?: string };
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

interface MemberJson {
  id: string;
  address: string;
  generation: number;
  status: string;
  metadata: Record<string, string>;
}

async function members(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { http: { type: 'string', default: DEFAULT_HTTP }, json: { type: 'boolean', default: false } }, strict: true });
  const state = (await api(values.http, '/members')) as { live: MemberJson[]; dead: MemberJson[] };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
    return;
  }
  const rows = [...state.live, ...state.dead].map((m) => [m.id, m.address, m.status, Object.entries(m.metadata).map(([k, v]) => `${k}=${v}`).join(' ')]);
  const head = ['NODE', 'ADDRESS', 'STATUS', 'METADATA'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const r of [head, ...rows]) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()}\n`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'agent':
      return agent(rest);
    case 'members':
      return members(rest);
    case 'get': {
      const { values, positionals } = parseArgs({ args: rest, options: { http: { type: 'string', default: DEFAULT_HTTP } }, allowPositionals: true, strict: true });
      if (positionals.length !== 2) fail('get takes NODE_ID KEY');
      const r = (await api(values.http, `/kv/${encodeURIComponent(positionals[0] as string)}/${encodeURIComponent(positionals[1] as string)}`)) as { value: string };
      process.stdout.write(`${r.value}\n`);
      return;
    }
    case 'set':
    case 'delete': {
      const { values, positionals } = parseArgs({ args: rest, options: { http: { type: 'string', default: DEFAULT_HTTP } }, allowPositionals: true, strict: true });
      if (positionals.length !== (command === 'set' ? 2 : 1)) fail(command === 'set' ? 'set takes KEY VALUE' : 'delete takes KEY');
      await api(values.http, `/kv/${encodeURIComponent(positionals[0] as string)}`, command === 'set' ? { method: 'PUT', body: positionals[1] } : { method: 'DELETE' });
      return;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      if (command === undefined) process.exitCode = 2;
      return;
    default:
      fail(`unknown command "${command}"`);
  }
}

main().catch((err: unknown) => {
  const e = err as Error & { code?: string };
  // parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes: show them with the usage.
  if (err instanceof UsageError || e.code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`scuttlebutt: ${e.message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  process.stderr.write(`scuttlebutt: ${e.message}\n`);
  process.exit(1);
});

/**
 * `scuttlebutt agent`: its flags, their checks (addresses, seeds, keyring, the secure-by-default
 * rules), and the running agent (node, HTTP API, signals).
 */
import { readFileSync } from 'node:fs';
import { createScuttlebutt } from '../runtime/scuttlebutt.js';
import {
  defaultLanConfig,
  defaultWanConfig,
  isLoopbackHost,
  parseHostPort,
  type ConfigOverrides,
} from '../runtime/config.js';
import { DiscoveryError, dnsServerProblem, parseSeed } from '../runtime/discovery.js';
import { startHttpApi } from './http-api.js';
import { agentLogger, isLogLevel, LOG_LEVELS } from './log.js';
import { instrument } from './metrics.js';
import { readTokenFile } from './http-token.js';
import { holdOldGeneration } from './old-generation.js';
import { optimizeWhenBusy } from './jit.js';
import { fail } from './usage.js';
import { DEFAULT_HTTP, intFlag, parseTags, str, type Command } from './command.js';
import { parseHandlerSpec, parseHandlerTimeout } from './handler-spec.js';
import { EventHandlers } from './event-handlers.js';
import { loadSnapshot, rejoinFromSnapshot, Snapshotter } from './snapshot.js';

/** CPU percent of one core above which the agent turns V8's optimizing compilers on (jit.ts). */
const DEFAULT_OPTIMIZE_ABOVE_CPU = 2;

/** Largest query response a handler's stdout may give (serf's limit). */
const HANDLER_RESPONSE_BYTES = 1024;

function parseKey(line: string, n: number): Buffer {
  const text = line.trim();
  const bytes =
    /^[0-9a-fA-F]+$/.test(text) && [32, 48, 64].includes(text.length)
      ? Buffer.from(text, 'hex')
      : Buffer.from(text, 'base64');
  if (![16, 24, 32].includes(bytes.length))
    fail(
      `--key-file line ${n}: a key must be 16, 24 or 32 bytes as hex or base64 ` +
        `(got ${bytes.length} bytes; make one with: scuttlebutt keygen)`,
    );
  return bytes;
}

function readKeyFile(path: string): Buffer[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(`--key-file: cannot read ${path}: ${(err as Error).message}`);
  }
  const keys = text
    .split('\n')
    .map((l, i) => [l, i + 1] as const)
    .filter(([l]) => l.trim() !== '')
    .map(([l, n]) => parseKey(l, n));
  if (keys.length === 0) fail(`--key-file ${path} holds no key`);
  return keys;
}

async function runAgent(values: Record<string, unknown>): Promise<void> {
  const bind = str(values.bind);
  const parsedBind = parseHostPort(bind);
  if (!parsedBind) fail(`--bind must be HOST:PORT (got "${bind}")`, 'agent');
  if (values.advertise !== undefined && !parseHostPort(str(values.advertise)))
    fail(`--advertise must be HOST:PORT (got "${str(values.advertise)}")`, 'agent');
  const httpAddr = str(values.http);
  const parsedHttp = parseHostPort(httpAddr);
  if (!parsedHttp) fail(`--http must be HOST:PORT (got "${httpAddr}")`, 'agent');
  if (values.profile !== 'lan' && values.profile !== 'wan')
    fail(`--profile must be lan or wan (got "${str(values.profile)}")`, 'agent');
  const flowControl = str(values['flow-control']);
  if (flowControl !== 'on' && flowControl !== 'off')
    fail(`--flow-control must be on or off (got "${flowControl}")`, 'agent');
  const protocol = str(values.protocol);
  if (protocol !== '6' && protocol !== '7')
    fail(
      `--protocol must be 6 (heartbeats in every digest) or 7 (beats to neighbours, signed reports) ` +
        `(got "${protocol}")`,
      'agent',
    );
  const tags = parseTags((values.tag as string[] | undefined) ?? [], '--tag', 'agent');
  const seeds = ((values.join as string[] | undefined) ?? [])
    .flatMap((j) => j.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
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
      `--bind ${bind} reaches beyond this host and no --key-file is given: ` +
        'anyone who can reach the port could read the membership and forge state. ' +
        'Give --key-file (make a key with: scuttlebutt keygen > key; the same file on every agent), ' +
        'or pass --insecure to gossip in plaintext on a network you trust.',
      'agent',
    );
  }
  const tokenFile = values['http-token-file'] as string | undefined;
  const writeToken = tokenFile === undefined ? undefined : readTokenFile(tokenFile);
  if (writeToken === undefined && !isLoopbackHost(parsedHttp.host) && values.insecure !== true) {
    fail(
      `--http ${httpAddr} reaches beyond this host and no --http-token-file is given: ` +
        "anyone who can reach it could change this agent's metadata or make it leave. " +
        'Give --http-token-file (make a token with: scuttlebutt keygen > http-token; ' +
        'reads stay open for probes and Prometheus), or pass --insecure on a network you trust.',
      'agent',
    );
  }
  const interval = intFlag('interval-ms', values['interval-ms'], 10);
  const eventBuffer = intFlag('event-buffer', values['event-buffer'], 1);
  const eventBufferBytes = intFlag('event-buffer-bytes', values['event-buffer-bytes'], 1024);
  const sseHeartbeatMs = intFlag('sse-heartbeat-ms', values['sse-heartbeat-ms'], 100);
  const gateHoldMs = intFlag('gate-hold-ms', values['gate-hold-ms'], 0);
  if (gateHoldMs !== undefined && protocol !== '7') fail('--gate-hold-ms applies to --protocol 7 only', 'agent');
  const oldSpaceStepMb = intFlag('old-space-step-mb', values['old-space-step-mb'], 0) ?? 1;
  const optimizeAboveCpu = intFlag('optimize-above-cpu', values['optimize-above-cpu'], 0) ?? DEFAULT_OPTIMIZE_ABOVE_CPU;
  const level = str(values['log-level']);
  if (!isLogLevel(level)) fail(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`, 'agent');
  const logger = await agentLogger(level);
  const handlerSpecs = ((values['event-handler'] as string[] | undefined) ?? []).map(parseHandlerSpec);
  const handlerTimeoutMs = parseHandlerTimeout(str(values['event-handler-timeout']));
  const snapshotPath = values.snapshot as string | undefined;
  if (snapshotPath !== undefined && snapshotPath.trim() === '') fail('--snapshot needs a file path', 'agent');
  const snapshot = snapshotPath === undefined ? undefined : loadSnapshot(snapshotPath, str(values.cluster), logger);
  const overrides: ConfigOverrides = {
    clusterId: str(values.cluster),
    listenAddress: bind,
    node: {
      ...(values['node-id'] ? { id: str(values['node-id']) } : {}),
      ...(values.advertise ? { gossipPublicAddress: str(values.advertise) } : {}),
    },
    secretKeys,
    ...(dnsServers.length > 0 ? { dnsServers } : {}),
    logger,
    ...(snapshot ? { lamportClocks: snapshot.lamportClocks } : {}),
    ...(interval ? { gossipIntervalMs: interval, failureDetector: { firstHeartbeatEstimateMs: interval } } : {}),
    flowControl: { enabled: flowControl === 'on' },
    ...(protocol === '7' ? { liveness: { protocol: 7, ...(gateHoldMs !== undefined ? { gateHoldMs } : {}) } } : {}),
  };
  const config = values.profile === 'wan' ? defaultWanConfig(overrides) : defaultLanConfig(overrides);
  const node = await createScuttlebutt(config, tags);
  const metrics = instrument(node);
  const snapshotter =
    snapshotPath === undefined
      ? undefined
      : new Snapshotter(node, {
          path: snapshotPath,
          log: logger,
          ...(snapshot ? { previous: snapshot } : {}),
          clocks: () => node.lamportClocks(),
          registry: metrics.registry,
        });
  holdOldGeneration(oldSpaceStepMb * 1024 * 1024);
  let stopping = false;
  const leaveAndExit = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    handlers?.close();
    await node.shutdown({ leave: true });
    await snapshotter?.close();
    await http.close();
    process.exit(0);
  };
  const http = await startHttpApi(node, httpAddr, {
    ...(eventBuffer ? { eventBuffer } : {}),
    ...(eventBufferBytes ? { eventBufferBytes } : {}),
    ...(sseHeartbeatMs ? { sseHeartbeatMs } : {}),
    onLeave: () => void leaveAndExit(),
    ...(writeToken === undefined ? {} : { writeToken }),
  });
  const handlers =
    handlerSpecs.length === 0
      ? undefined
      : new EventHandlers(node, {
          handlers: handlerSpecs,
          timeoutMs: handlerTimeoutMs,
          log: logger,
          maxResponseBytes: HANDLER_RESPONSE_BYTES,
          registry: metrics.registry,
          // `scuttlebutt` commands in a script reach this agent.
          env: {
            SCUTTLEBUTT_HTTP: http.address,
            ...(tokenFile === undefined ? {} : { SCUTTLEBUTT_HTTP_TOKEN_FILE: tokenFile }),
          },
        });
  if (!isLoopbackHost(parsedHttp.host)) {
    const writes = writeToken === undefined ? ', and can change metadata and make this agent leave' : '';
    logger.warn(
      { http: http.address },
      `the HTTP API is reachable beyond loopback: anyone who reaches it reads the membership and metadata${writes}; ` +
        'firewall it',
    );
  }
  // A seed that does not resolve yet (DNS not ready, the first pod of a Service) is logged by the node
  // and retried: the agent runs on.
  if (seeds.length > 0) {
    await node.join(seeds).catch((err: unknown) => {
      if (!(err instanceof DiscoveryError)) throw err;
    });
  }
  if (snapshot && snapshotPath !== undefined) {
    // Seeds get a few rounds to answer before the snapshot's addresses are tried.
    const waitMs = Math.max(3000, 5 * node.config.gossipIntervalMs);
    void rejoinFromSnapshot(node, snapshot, { seedsGiven: seeds.length > 0, waitMs, log: logger, path: snapshotPath });
  }
  logger.info(
    { bind: node.boundAddress, advertise: node.self.address, api: `http://${http.address}` },
    `agent ${node.self.id} gossiping on ${node.boundAddress} (advertised ${node.self.address}), ` +
      `API on http://${http.address}, dashboard http://${http.address}/ui`,
  );
  optimizeWhenBusy({
    cpuPercent: optimizeAboveCpu,
    onBusy: (used) =>
      logger.info(
        { cpuPercent: Number(used.toFixed(2)) },
        `busy (${used.toFixed(1)} % CPU over the last window): V8's optimizing compilers are on`,
      ),
  });
  process.on('SIGINT', () => void leaveAndExit());
  process.on('SIGTERM', () => void leaveAndExit());
  // SIGHUP re-reads the key file, so keys rotate without a restart. A file that cannot be read or
  // holds a bad key leaves the current keyring in place: a typo must not cut a node off its cluster.
  process.on('SIGHUP', () => {
    if (!keyFile) return void logger.warn({}, 'SIGHUP ignored: no --key-file to re-read');
    try {
      const keys = readKeyFile(keyFile);
      node.setSecretKeys(keys);
      logger.info({ keyFile, keys: keys.length }, `keyring reloaded from ${keyFile}: ${keys.length} key(s)`);
    } catch (err) {
      logger.error(
        { keyFile, err: (err as Error).message },
        `keyring not reloaded, the current one stays: ${(err as Error).message}`,
      );
    }
  });
}

export const AGENT: Command = {
  summary: 'run a node with a local HTTP API and dashboard',
  usage:
    `usage: scuttlebutt agent [flags]

  --bind HOST:PORT          UDP address to gossip on (default 0.0.0.0:9111; ` +
    `beyond loopback it needs --key-file or --insecure)
  --advertise HOST:PORT     the address peers send to (default: derived from --bind)
  --join SEED[,...]         seeds to join through; repeatable. SEED is HOST:PORT, [IPV6]:PORT, or srv+NAME (every
                            target and port of an SRV record); a name stands for all its addresses; resolved again
                            every 30 s, new addresses are contacted
  --dns-server IP[:PORT]    DNS server for seed names instead of the system's; repeatable
  --cluster ID              cluster id (default "default")
  --node-id ID              unique node id (default: host name and a random suffix)
  --key-file PATH           keyring, one key per line (base64 or hex, 16/24/32 bytes); the first encrypts, all decrypt;
                            SIGHUP re-reads it: rotate with [old,new], then [new,old], then [new], ` +
    `each on every agent first
  --insecure                allow plaintext gossip, and an HTTP API without a write token, beyond loopback ` +
    `(a network you trust)
  --tag KEY=VALUE           initial metadata; repeatable
  --http HOST:PORT          the local HTTP API and dashboard (default ${DEFAULT_HTTP}; beyond loopback it needs
                            --http-token-file or --insecure)
  --http-token-file PATH    a token (first line, 16+ characters) every request that changes the agent must carry as
                            Authorization: Bearer TOKEN; reads (probes, /metrics, the dashboard) stay open
  --profile lan|wan         timing presets (default lan)
  --interval-ms N           gossip interval in ms (default: the preset's)
  --protocol 6|7            failure detection: 6, heartbeats in every digest (default); 7, beats to 4 neighbours and
                            signed reports (docs/design/liveness-7.md), once every member speaks 7 (until then, 6)
  --gate-hold-ms N          with --protocol 7: how long every member must speak 7 before the switch (default 30000;
                            0 for a cluster started fresh on this release)
  --flow-control on|off     hold this agent's metadata writes to what gossip carries (default on; docs/protocol.md)
  --event-buffer N          events kept for /events resume (default 1000)
  --event-buffer-bytes N    bytes those events may hold, at least 1024 (default 1048576); the oldest go first
  --sse-heartbeat-ms N      keep-alive comment interval on /events (default 15000)
  --event-handler [TYPE[:NAME][,...]=]SCRIPT
                            run SCRIPT (with /bin/sh -c) on events: TYPE is member-join, member-leave, member-failed,
                            member-update, member-reap, user, query or * (the default); user:NAME and query:NAME
                            select one name; a query handler's stdout (up to ${HANDLER_RESPONSE_BYTES} bytes) is its
                            response; repeatable (docs/building-on-membership.md, "Event handlers")
  --event-handler-timeout D a handler still running after D (10s, 500ms, 2m) is killed (default 10s)
  --snapshot PATH           keep members and Lamport clocks in PATH; on start, rejoin through them when no
                            seed answers (or none is given); an unreadable snapshot is logged and ignored
  --old-space-step-mb N     collect V8's old generation once it has grown N MB (or an eighth, if more) past what it
                            held (default 1; 0 leaves it to V8, which lets it grow 8 MB or more)
  --optimize-above-cpu PCT  turn on V8's optimizing compilers once the agent uses PCT % of a core over 10 s
                            (default ${DEFAULT_OPTIMIZE_ABOVE_CPU}; 0 from the start, as node does): an idle agent ` +
    `runs interpreted and
                            saves about 5 MB; a compiler flag given to node (--jitless, --max-opt...) wins
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
    protocol: { type: 'string', default: '6', env: true },
    'gate-hold-ms': { type: 'string', env: true },
    'event-buffer': { type: 'string', env: true },
    'event-buffer-bytes': { type: 'string', env: true },
    'sse-heartbeat-ms': { type: 'string', env: true },
    'old-space-step-mb': { type: 'string', env: true },
    'optimize-above-cpu': { type: 'string', env: true },
    'log-level': { type: 'string', default: 'info', env: true },
    // One handler per variable: a handler's filter and script may hold commas.
    'event-handler': { type: 'string', multiple: true, env: true, envWhole: true },
    'event-handler-timeout': { type: 'string', default: '10s', env: true },
    snapshot: { type: 'string', env: true },
  },
  run: (values) => runAgent(values),
};

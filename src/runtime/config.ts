/**
 * Configuration: the LAN and WAN presets of cnanakos/go-scuttlebutt, and validation that rejects a wrong config
 * at construction with one error naming every wrong field and how to fix it.
 */
import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { DEFAULT_FLOW_CONTROL } from '../core/flow-control.js';
import {
  DEFAULT_FAILURE_DETECTOR,
  DEFAULT_TOMBSTONE_GRACE_PERIOD_MS,
  type FailureDetectorConfig,
  type FlowControlConfig,
} from '../core/types.js';
import { MAX_UDP_PAYLOAD } from '../wire/envelope-sizes.js';
import type { ScuttlebuttConfig } from './api.js';
import { dnsServerProblem } from './dns.js';
import { userEventProblems } from './user-event-config.js';
import { queriesConfigProblems } from './query-limits.js';
import { ScuttlebuttError } from '../errors.js';

export const DEFAULT_PORT = 9111;
const MIN_PACKET = 512;

export type ConfigOverrides = Partial<Omit<ScuttlebuttConfig, 'failureDetector' | 'node' | 'flowControl'>> & {
  node?: Partial<ScuttlebuttConfig['node']>;
  failureDetector?: Partial<FailureDetectorConfig>;
  flowControl?: Partial<FlowControlConfig>;
};

/** `SB_ERR_CONFIG`: a config that cannot run; `problems` names every wrong field and how to fix it, one line each. */
export class ConfigError extends ScuttlebuttError {
  readonly code = 'SB_ERR_CONFIG';
  override readonly name = 'ConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid scuttlebutt config:\n  - ${problems.join('\n  - ')}`);
  }
}

export function defaultFailureDetectorConfig(): FailureDetectorConfig {
  return { ...DEFAULT_FAILURE_DETECTOR };
}

/** A unique node id: the host name and a random suffix (two processes on one host never collide). */
export function defaultNodeId(): string {
  return `${hostname()}-${randomBytes(3).toString('hex')}`;
}

/** The address peers should use when we listen on a wildcard: the first external IPv4, else loopback. */
function advertisedHost(listenHost: string): string {
  if (listenHost !== '0.0.0.0' && listenHost !== '::' && listenHost !== '') return listenHost;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function merge(base: ScuttlebuttConfig, o: ConfigOverrides): ScuttlebuttConfig {
  const listenAddress = o.listenAddress ?? base.listenAddress;
  const parsed = parseHostPort(listenAddress);
  const node = {
    id: o.node?.id ?? base.node.id,
    gossipPublicAddress:
      o.node?.gossipPublicAddress ??
      (parsed ? formatHostPort(advertisedHost(parsed.host), parsed.port) : base.node.gossipPublicAddress),
  };
  return {
    ...base,
    ...o,
    node,
    listenAddress,
    failureDetector: { ...base.failureDetector, ...o.failureDetector },
    flowControl: { ...base.flowControl, ...o.flowControl },
  } as ScuttlebuttConfig;
}

/** The LAN preset of cnanakos/go-scuttlebutt: port 9111, cluster "default", fanout 3 every second, phi threshold 8. */
export function defaultLanConfig(overrides: ConfigOverrides = {}): ScuttlebuttConfig {
  const base: ScuttlebuttConfig = {
    clusterId: 'default',
    node: { id: defaultNodeId(), gossipPublicAddress: `127.0.0.1:${DEFAULT_PORT}` },
    listenAddress: `0.0.0.0:${DEFAULT_PORT}`,
    gossipNodes: 3,
    gossipIntervalMs: 1000,
    failureDetector: defaultFailureDetectorConfig(),
    enableCompression: true,
    secretKeys: [],
    maxPacketBytes: MAX_UDP_PAYLOAD,
    tombstoneGracePeriodMs: DEFAULT_TOMBSTONE_GRACE_PERIOD_MS,
    seedResolveIntervalMs: 30_000,
    flowControl: { ...DEFAULT_FLOW_CONTROL },
    // The largest cluster measured (docs/benchmarks.md: 10,000 simulated nodes).
    maxMembers: 10_000,
    // A joiner of a 1,000-member cluster still learns it from its seed in one interval.
    maxNewMembersPerSender: 1_000,
  };
  return merge(base, overrides);
}

/** The WAN preset of cnanakos/go-scuttlebutt: fanout 4 every 3 s, phi threshold 12, 10 s acceptable pause. */
export function defaultWanConfig(overrides: ConfigOverrides = {}): ScuttlebuttConfig {
  const lan = defaultLanConfig();
  const base: ScuttlebuttConfig = {
    ...lan,
    gossipNodes: 4,
    gossipIntervalMs: 3000,
    failureDetector: {
      ...lan.failureDetector,
      phiThreshold: 12,
      acceptableHeartbeatPauseMs: 10_000,
      firstHeartbeatEstimateMs: 3000,
      deadNodeGracePeriodMs: 180_000,
    },
    tombstoneGracePeriodMs: 180_000,
  };
  return merge(base, { listenAddress: lan.listenAddress, ...overrides });
}

export function parseHostPort(value: string): { host: string; port: number } | null {
  if (typeof value !== 'string') return null;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]*):(\d{1,5})$/.exec(value);
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65_535) return null;
  return { host: m[1] as string, port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Throws one ConfigError listing every problem; returns the config when it is sound. */
export function validateConfig(c: ScuttlebuttConfig): ScuttlebuttConfig {
  const problems: string[] = [];
  const int = (name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max < Number.MAX_SAFE_INTEGER ? `${min} to ${max}` : `${min} up`;
      problems.push(`${name} must be an integer from ${range} (got ${JSON.stringify(v)})`);
    }
  };
  const positive = (name: string, v: unknown): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      problems.push(`${name} must be a positive number (got ${JSON.stringify(v)})`);
  };
  if (typeof c.clusterId !== 'string' || c.clusterId.length === 0 || c.clusterId.length > 255) {
    problems.push(
      `clusterId must be a non-empty string of at most 255 characters (got ${JSON.stringify(c.clusterId)})`,
    );
  }
  if (typeof c.node?.id !== 'string' || c.node.id.length === 0 || c.node.id.length > 255) {
    problems.push(`node.id must be a non-empty string of at most 255 characters (got ${JSON.stringify(c.node?.id)})`);
  }
  if (!parseHostPort(c.node?.gossipPublicAddress)) {
    problems.push(
      'node.gossipPublicAddress must be "host:port" or "[ipv6]:port" ' +
        `(got ${JSON.stringify(c.node?.gossipPublicAddress)})`,
    );
  } else if (/^(0\.0\.0\.0|\[::\]):/.test(c.node.gossipPublicAddress)) {
    problems.push(
      `node.gossipPublicAddress must be an address peers can reach, not a wildcard (got ${c.node.gossipPublicAddress})`,
    );
  }
  if (!parseHostPort(c.listenAddress))
    problems.push(`listenAddress must be "host:port" or "[ipv6]:port" (got ${JSON.stringify(c.listenAddress)})`);
  int('gossipNodes', c.gossipNodes, 1, 64);
  int('gossipIntervalMs', c.gossipIntervalMs, 10, 600_000);
  const fd = c.failureDetector ?? ({} as FailureDetectorConfig);
  positive('failureDetector.phiThreshold', fd.phiThreshold);
  int('failureDetector.samplingWindowSize', fd.samplingWindowSize, 2, 10_000);
  positive('failureDetector.minStdDeviationMs', fd.minStdDeviationMs);
  if (typeof fd.acceptableHeartbeatPauseMs !== 'number' || !(fd.acceptableHeartbeatPauseMs >= 0)) {
    problems.push(
      'failureDetector.acceptableHeartbeatPauseMs must be a number >= 0 ' +
        `(got ${JSON.stringify(fd.acceptableHeartbeatPauseMs)})`,
    );
  }
  positive('failureDetector.firstHeartbeatEstimateMs', fd.firstHeartbeatEstimateMs);
  positive('failureDetector.deadNodeGracePeriodMs', fd.deadNodeGracePeriodMs);
  int('maxPacketBytes', c.maxPacketBytes, MIN_PACKET, MAX_UDP_PAYLOAD);
  positive('tombstoneGracePeriodMs', c.tombstoneGracePeriodMs);
  positive('seedResolveIntervalMs', c.seedResolveIntervalMs);
  if (c.dnsServers !== undefined) {
    if (!Array.isArray(c.dnsServers))
      problems.push(`dnsServers must be an array of "ip" or "ip:port" strings (got ${JSON.stringify(c.dnsServers)})`);
    else
      c.dnsServers.forEach((server, i) => {
        const problem = dnsServerProblem(server);
        if (problem) problems.push(`dnsServers[${i}] ${problem}`);
      });
  }
  const flow = c.flowControl ?? ({} as FlowControlConfig);
  if (typeof flow.enabled !== 'boolean')
    problems.push(`flowControl.enabled must be true or false (got ${JSON.stringify(flow.enabled)})`);
  if (flow.shareRates !== undefined && typeof flow.shareRates !== 'boolean')
    problems.push(`flowControl.shareRates must be true or false (got ${JSON.stringify(flow.shareRates)})`);
  positive('flowControl.minRate', flow.minRate);
  positive('flowControl.initialRate', flow.initialRate);
  positive('flowControl.maxRate', flow.maxRate);
  if (flow.minRate > flow.maxRate)
    problems.push(`flowControl.minRate (${flow.minRate}) must not exceed flowControl.maxRate (${flow.maxRate})`);
  int('maxMembers', c.maxMembers, 2);
  int('maxNewMembersPerSender', c.maxNewMembersPerSender, 1);
  problems.push(...queriesConfigProblems(c.queries, c.maxPacketBytes));
  if (typeof c.enableCompression !== 'boolean')
    problems.push(`enableCompression must be true or false (got ${JSON.stringify(c.enableCompression)})`);
  (c.secretKeys ?? []).forEach((k, i) => {
    if (!(k instanceof Uint8Array)) problems.push(`secretKeys[${i}] must be a Uint8Array or Buffer`);
    else if (![16, 24, 32].includes(k.length))
      problems.push(`secretKeys[${i}] must be 16, 24 or 32 bytes for AES-128/192/256 (got ${k.length})`);
  });
  if (c.logger !== undefined) {
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      if (typeof c.logger[level] !== 'function')
        problems.push(`logger.${level} must be a function (pino-compatible logger)`);
    }
  }
  userEventProblems(c, problems);
  problems.push(...livenessProblems(c.liveness));
  if (problems.length > 0) throw new ConfigError(problems);
  return c;
}

/** What is wrong with ScuttlebuttConfig.liveness, one line a problem. */
function livenessProblems(l: ScuttlebuttConfig['liveness']): string[] {
  if (l === undefined) return [];
  if (typeof l !== 'object' || l === null)
    return [`liveness must be an object such as { protocol: 7 } (got ${JSON.stringify(l)})`];
  const problems: string[] = [];
  if (l.protocol !== 6 && l.protocol !== 7)
    problems.push(`liveness.protocol must be 6 or 7 (got ${JSON.stringify(l.protocol)})`);
  if (l.observers !== undefined) {
    const k = l.observers;
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 2 || k > 32 || k % 2 !== 0)
      problems.push(`liveness.observers must be an even integer from 2 to 32 (got ${JSON.stringify(k)})`);
    else if (l.protocol === 6)
      problems.push('liveness.observers applies to protocol 7 only: remove it, or set protocol 7');
  }
  if (l.gateHoldMs !== undefined) {
    const h = l.gateHoldMs;
    if (typeof h !== 'number' || !Number.isFinite(h) || h < 0 || h > 3_600_000)
      problems.push(`liveness.gateHoldMs must be a number of ms from 0 to 3600000 (got ${JSON.stringify(h)})`);
    else if (l.protocol === 6)
      problems.push('liveness.gateHoldMs applies to protocol 7 only: remove it, or set protocol 7');
  }
  return problems;
}

/** True for addresses only this host can reach: plaintext there exposes nothing. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:127\./i.test(host);
}

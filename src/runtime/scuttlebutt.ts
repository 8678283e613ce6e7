/**
 * The runtime: the pure core driven by a real UDP socket and a real clock.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { ScuttlebuttCore } from '../core/core.js';
import { seededRandom } from '../core/random.js';
import type { CoreEvent, NodeView, Outbound } from '../core/types.js';
import { carriesLowHeartbeats, DecodeError, decodeMessage, encodeMessage, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type ProtocolVersion } from '../wire/codec.js';
import type { NodeIdentity } from '../wire/messages.js';
import { envelopeOverhead, EnvelopeError, openPacket, seal, type EnvelopeOptions } from '../transport/envelope.js';
import { PeerVersions } from '../transport/negotiation.js';
import { bindUdp, type UdpEndpoint } from '../transport/udp.js';
import type { ClusterState, Logger, MemberInfo, MembershipEvent, ScuttlebuttConfig, Stats } from './api.js';
import { defaultLanConfig, formatHostPort, parseHostPort, validateConfig, type ConfigOverrides } from './config.js';
import { EventQueue } from './event-queue.js';

export interface ScuttlebuttEvents {
  live: [member: MemberInfo];
  dead: [member: MemberInfo, reason: 'suspected' | 'left' | 'superseded'];
  update: [member: MemberInfo, keys: readonly string[]];
  removed: [member: MemberInfo];
}

const DETECTS_PER_ROUND = 4;
/** Extra (news-triggered) rounds that may go out back to back. */
const EAGER_BURST = 2;
const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };
/** A peer heard only in an older protocol is tried in the newest every this many rounds (see negotiation.ts). */
const PROBE_ROUNDS = 10;
/** Distinct (peer, version) pairs warned about; past it, packets of a version not spoken are only counted. */
const VERSION_WARNINGS_MAX = 1024;

let lastGeneration = 0;
/** Generations must grow across restarts: wall-clock ms, and never twice the same in one process. */
function nextGeneration(): number {
  lastGeneration = Math.max(Date.now(), lastGeneration + 1);
  return lastGeneration;
}

/** A monotonic clock in ms: a wall-clock step must not look like a stall or a storm of heartbeats. */
const monotonicNow = (): number => performance.now();

/** Starts a node: validates the config, binds the socket, begins gossiping. Missing fields take the LAN defaults. */
export async function createScuttlebutt(config: ConfigOverrides = {}, metadata: Readonly<Record<string, string>> = {}): Promise<Scuttlebutt> {
  const cfg = validateConfig(defaultLanConfig(config));
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TypeError(`metadata["${k}"] must be a string (got ${typeof v})`);
  }
  const listen = parseHostPort(cfg.listenAddress) as { host: string; port: number };
  const udp = await bindUdp(listen.host, listen.port);
  try {
    return new Scuttlebutt(cfg, metadata, udp);
  } catch (err) {
    await udp.close();
    throw err;
  }
}

export class Scuttlebutt extends EventEmitter<ScuttlebuttEvents> implements AsyncDisposable {
  readonly config: ScuttlebuttConfig;
  readonly self: NodeIdentity;
  private readonly core: ScuttlebuttCore;
  private readonly udp: UdpEndpoint;
  private readonly log: Logger;
  private envelope: EnvelopeOptions;
  private readonly timer: NodeJS.Timeout;
  private readonly detectTimer: NodeJS.Timeout;
  private resolveTimer: NodeJS.Timeout | null = null;
  private seedSpecs: string[] = [];
  private readonly streams = new Set<EventQueue<MembershipEvent>>();
  private closing: Promise<void> | null = null;
  private counters = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, gossipRounds: 0 };
  private readonly dropped: Record<string, number> = {};
  private credit: number = EAGER_BURST;
  private creditAt = 0;
  private eagerTimer: NodeJS.Timeout | null = null;
  /** A one-shot detect at the earliest conviction deadline, and when it fires (monotonic ms). */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineTimerAt = Infinity;
  /** Per peer, the protocol versions it speaks, as learned from what it sent. */
  private readonly versions: PeerVersions;
  /** The version chosen for each destination of the messages being produced now: one choice per peer and batch. */
  private readonly batch = new Map<string, ProtocolVersion>();
  private readonly byVersion = { packetsIn: {} as Record<string, number>, packetsOut: {} as Record<string, number> };
  private readonly versionWarnings = new Set<string>();

  /** Use createScuttlebutt(): binding a socket is asynchronous. */
  constructor(config: ScuttlebuttConfig, metadata: Readonly<Record<string, string>>, udp: UdpEndpoint) {
    super();
    this.config = config;
    this.udp = udp;
    this.log = config.logger ?? SILENT;
    const keys = config.secretKeys ?? [];
    this.envelope = { keys, compress: config.enableCompression, maxPacketBytes: config.maxPacketBytes };
    this.self = { id: config.node.id, generation: nextGeneration(), address: config.node.gossipPublicAddress };
    this.versions = new PeerVersions({ probeIntervalMs: PROBE_ROUNDS * config.gossipIntervalMs });
    this.core = new ScuttlebuttCore(
      {
        clusterId: config.clusterId,
        self: this.self,
        fanout: config.gossipNodes,
        gossipIntervalMs: config.gossipIntervalMs,
        failureDetector: config.failureDetector,
        // Room for encryption is always kept, so keys can be turned on or rotated while running.
        payloadBudget: config.maxPacketBytes - envelopeOverhead(true),
        tombstoneGracePeriodMs: config.tombstoneGracePeriodMs,
        // Low-bit heartbeats (protocol 4) only to a peer that will get this message in 4.
        lowBitsTo: (peer) => carriesLowHeartbeats(this.versionTo(peer)),
      },
      seededRandom(randomBytes(4).readUInt32LE(0)),
      monotonicNow(),
      metadata,
    );
    this.core.takeEvents();
    udp.onPacket((bytes, from) => this.onPacket(bytes, from));
    udp.onError((err) => this.log.warn({ err: err.message }, 'udp socket error'));
    this.timer = setInterval(() => this.round(), config.gossipIntervalMs);
    // The detector also runs between rounds, so conviction is not rounded up to the next tick.
    this.detectTimer = setInterval(() => this.detect(), Math.max(10, config.gossipIntervalMs / DETECTS_PER_ROUND));
    this.log.info({ node: this.self, listen: udp.address }, 'scuttlebutt node started');
  }

  /** The address the socket is bound to, "host:port" (useful with port 0). */
  get boundAddress(): string {
    return this.udp.address;
  }

  /**
   * Joins a cluster through seed nodes ("host:port"). Host names are resolved now and again every
   * seedResolveIntervalMs. Rejects on a malformed seed, or when not one seed resolves.
   */
  async join(seeds: readonly string[]): Promise<void> {
    this.assertOpen();
    const bad = seeds.filter((s) => !parseHostPort(s));
    if (bad.length > 0) throw new TypeError(`seeds must be "host:port" strings; bad: ${bad.map((s) => JSON.stringify(s)).join(', ')}`);
    this.seedSpecs = [...new Set([...this.seedSpecs, ...seeds])];
    const resolved = await this.resolveSeeds();
    if (resolved === 0 && this.seedSpecs.length > 0) throw new Error(`none of the seeds could be resolved: ${this.seedSpecs.join(', ')}`);
    this.resolveTimer ??= setInterval(() => void this.resolveSeeds(), this.config.seedResolveIntervalMs);
    this.round(); // gossip now: joining should not wait for the next tick
  }

  private async resolveSeeds(): Promise<number> {
    const addresses: string[] = [];
    await Promise.all(
      this.seedSpecs.map(async (spec) => {
        const { host, port } = parseHostPort(spec) as { host: string; port: number };
        try {
          const { address } = await lookup(host);
          addresses.push(formatHostPort(address, port));
        } catch (err) {
          this.log.warn({ seed: spec, err: (err as Error).message }, 'seed did not resolve');
        }
      }),
    );
    if (!this.closing) this.core.setSeeds(addresses.sort());
    return addresses.length;
  }

  /**
   * Replaces the keyring while running: the first key encrypts, all decrypt. Rotate without losing a
   * packet in three steps, each applied to every node before the next: [old, new], then [new, old], then [new].
   */
  setSecretKeys(keys: readonly Uint8Array[]): void {
    this.assertOpen();
    validateConfig({ ...this.config, secretKeys: keys });
    this.envelope = { ...this.envelope, keys: [...keys] };
  }

  set(key: string, value: string): void {
    this.assertOpen();
    this.core.set(key, value, monotonicNow());
    this.publish();
  }

  setWithTtl(key: string, value: string, ttlMs: number): void {
    this.assertOpen();
    this.core.setWithTtl(key, value, ttlMs, monotonicNow());
    this.publish();
  }

  delete(key: string): void {
    this.assertOpen();
    this.core.delete(key, monotonicNow());
    this.publish();
  }

  get(key: string): string | undefined {
    return this.core.get(key);
  }

  state(): ClusterState {
    const snap = this.core.snapshot();
    const self = snap.live.find((v) => v.node.id === this.self.id && v.node.generation === this.self.generation);
    return {
      self: toMember(self as NodeView),
      live: snap.live.map(toMember),
      dead: snap.dead.map(toMember),
      seeds: [...this.seedSpecs],
    };
  }

  stats(): Stats {
    const members = this.core.snapshot();
    return {
      ...this.counters,
      dropped: { ...this.dropped },
      rejected: { ...this.core.rejections() },
      packetsInByVersion: { ...this.byVersion.packetsIn },
      packetsOutByVersion: { ...this.byVersion.packetsOut },
      liveMembers: members.live.length,
      deadMembers: members.dead.length,
    };
  }

  /**
   * Membership events as an async iterator, until `signal` aborts or the node shuts down. A reader
   * that falls more than `buffer` events behind loses the oldest ones (counted in
   * stats().dropped['event-overflow']) rather than growing memory without bound.
   */
  events(options: { signal?: AbortSignal; buffer?: number } = {}): AsyncIterableIterator<MembershipEvent> {
    const queue = new EventQueue<MembershipEvent>(options.buffer ?? 10_000, () => this.count('event-overflow'));
    this.streams.add(queue);
    const end = (): void => {
      queue.end();
      this.streams.delete(queue);
    };
    if (this.closing) end();
    options.signal?.addEventListener('abort', end, { once: true });
    if (options.signal?.aborted) end();
    return queue.iterator(end);
  }

  /** Leaves gracefully (peers mark this node dead at once), stops gossip, closes the socket. Idempotent. */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      clearInterval(this.detectTimer);
      if (this.eagerTimer) clearTimeout(this.eagerTimer);
      if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
      if (this.resolveTimer) clearInterval(this.resolveTimer);
      await Promise.all(this.sendAll(this.core.leave(monotonicNow())));
      await this.udp.close();
      for (const q of this.streams) q.end();
      this.streams.clear();
      this.log.info({ node: this.self }, 'scuttlebutt node stopped');
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  private assertOpen(): void {
    if (this.closing) throw new Error('this scuttlebutt node has been shut down');
  }

  private round(): void {
    if (this.closing) return;
    this.counters.gossipRounds++;
    this.sendAll(this.core.tick(monotonicNow()));
    this.publish();
    this.armDeadlineTimer();
  }

  /**
   * News spreads in an extra round now, not at the next tick. Extra rounds draw on a small credit
   * (EAGER_BURST rounds, refilled at DETECTS_PER_ROUND per interval): a join or an update goes out
   * within the same event-loop turn, hop after hop, while a cluster full of news still sends at
   * most about DETECTS_PER_ROUND extra rounds per interval.
   */
  private eagerRound(): void {
    if (this.closing || this.eagerTimer || !this.core.hasNews) return;
    const credit = this.eagerCredit(monotonicNow());
    // A zero timeout still waits for this turn's other packets, so their news shares one round.
    const wait = credit >= 1 ? 0 : (1 - credit) * this.quarterInterval;
    this.eagerTimer = setTimeout(() => {
      this.eagerTimer = null;
      if (this.closing || !this.core.hasNews) return;
      const now = monotonicNow();
      this.credit = this.eagerCredit(now) - 1;
      this.sendAll(this.core.gossip(now));
      this.publish();
    }, wait);
  }

  /** The periodic detector's period, and the refill time of one extra round. */
  private get quarterInterval(): number {
    return this.config.gossipIntervalMs / DETECTS_PER_ROUND;
  }

  private eagerCredit(now: number): number {
    this.credit = Math.min(EAGER_BURST, this.credit + (now - this.creditAt) / this.quarterInterval);
    this.creditAt = now;
    return this.credit;
  }

  private detect(): void {
    if (this.closing) return;
    this.core.detect(monotonicNow());
    this.publish();
    this.armDeadlineTimer();
  }

  /**
   * Conviction on time: the periodic detect alone would convict up to a quarter interval late, and
   * the slowest of N observers sets the cluster's detection time. Deadlines only move later as
   * heartbeats arrive, so a timer that fires early just re-arms.
   */
  private armDeadlineTimer(): void {
    const at = this.core.nextDeadline;
    const now = monotonicNow();
    if (at >= this.deadlineTimerAt || at - now >= this.quarterInterval) return;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimerAt = at;
    // +1 ms: conviction needs now > deadline, and timers may fire a little early on a coarse clock.
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      this.deadlineTimerAt = Infinity;
      this.detect();
    }, Math.max(0, at - now) + 1);
  }

  private onPacket(bytes: Uint8Array, from: string): void {
    this.counters.packetsIn++;
    this.counters.bytesIn += bytes.length;
    if (this.closing) return;
    try {
      const { version, body } = openPacket(bytes, this.envelope);
      this.byVersion.packetsIn[version] = (this.byVersion.packetsIn[version] ?? 0) + 1;
      const message = decodeMessage(body, version);
      this.versions.heard(from, version, message.type === 'syn' || message.type === 'leave');
      // Replies go back in the version the message came in.
      this.batch.set(from, version);
      this.sendAll(this.core.receive(from, message, monotonicNow()));
    } catch (err) {
      this.batch.clear();
      if (err instanceof EnvelopeError && err.version !== undefined) {
        this.count(`envelope:${err.reason}`);
        this.warnVersion(from, err.version);
      } else if (err instanceof EnvelopeError || err instanceof DecodeError) {
        this.count(`${err instanceof EnvelopeError ? 'envelope' : 'decode'}:${err.reason}`);
        this.log.debug({ from, reason: err.reason, err: err.message }, 'dropped a packet');
      } else {
        // Nothing from the network may crash the node: an unexpected error is counted and logged loudly.
        this.count('internal-error');
        this.log.error({ from, err: (err as Error).stack }, 'internal error while handling a packet');
      }
    }
    this.publish();
  }

  private count(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
  }

  /** Once per peer and version: the operator must upgrade one side, and the log says which. */
  private warnVersion(from: string, version: number): void {
    const key = `${from} ${version}`;
    if (this.versionWarnings.has(key) || this.versionWarnings.size >= VERSION_WARNINGS_MAX) return;
    this.versionWarnings.add(key);
    const which = version > PROTOCOL_VERSION ? 'upgrade this node' : 'upgrade the peer';
    this.log.warn({ from, version, speaks: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] }, `peer ${from} speaks protocol ${version}, this node speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}: ${which}; its packets are dropped`);
  }

  /** The version of the message being produced for `peer`: the one it came in for a reply, else the negotiated one. */
  private versionTo(peer: string): ProtocolVersion {
    let v = this.batch.get(peer);
    if (v === undefined) {
      v = this.versions.initiate(peer, monotonicNow());
      this.batch.set(peer, v);
    }
    return v;
  }

  /** Sends a batch the core produced, each message in the version chosen for its destination. */
  private sendAll(out: readonly Outbound[]): Promise<void>[] {
    const sent = out.map((o) => this.send(o, this.versionTo(o.to)));
    this.batch.clear();
    return sent;
  }

  private async send(o: Outbound, version: ProtocolVersion): Promise<void> {
    const target = parseHostPort(o.to);
    if (!target) {
      this.count('bad-peer-address');
      return;
    }
    let packet: Uint8Array;
    try {
      packet = seal(encodeMessage(o.message, version), this.envelope, { version });
    } catch (err) {
      this.count('encode-failed');
      this.log.error({ err: (err as Error).stack }, 'could not encode a message');
      return;
    }
    try {
      await this.udp.send(packet, target.host, target.port);
      this.counters.packetsOut++;
      this.counters.bytesOut += packet.length;
      this.byVersion.packetsOut[version] = (this.byVersion.packetsOut[version] ?? 0) + 1;
    } catch (err) {
      this.count('send-failed');
      this.log.debug({ to: o.to, err: (err as Error).message }, 'send failed');
    }
  }

  /** Hands core events to listeners outside the gossip path: a slow or throwing listener cannot stall it. */
  private publish(): void {
    this.eagerRound();
    const events = this.core.takeEvents();
    if (events.length === 0) return;
    // The process behind a dead or replaced member's address may be another build next time.
    for (const e of events) if (e.type === 'dead' || e.type === 'removed') this.versions.forget(e.node.address);
    const converted = events.map((e) => this.convert(e));
    setImmediate(() => {
      for (const e of converted) this.deliver(e);
    });
  }

  private convert(e: CoreEvent): MembershipEvent {
    const view = this.core.member(e.node);
    const node: MemberInfo = view
      ? toMember(view)
      : { ...e.node, status: 'dead', heartbeat: 0, metadata: {} };
    switch (e.type) {
      case 'dead':
        return { type: 'dead', node: { ...node, status: 'dead' }, reason: e.reason };
      case 'update':
        return { type: 'update', node, keys: e.keys };
      default:
        return { type: e.type, node };
    }
  }

  private deliver(e: MembershipEvent): void {
    const guard = (what: string, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        this.count('listener-error');
        this.log.warn({ event: e.type, listener: what, err: (err as Error).message }, 'an event listener threw');
      }
    };
    const listeners = this.listeners(e.type) as ((...args: unknown[]) => void)[];
    const args: unknown[] = e.type === 'dead' ? [e.node, e.reason] : e.type === 'update' ? [e.node, e.keys] : [e.node];
    for (const l of listeners) guard('on', () => l(...args));
    const cb = this.config.events;
    if (cb) {
      if (e.type === 'live' && cb.notifyLive) guard('notifyLive', () => cb.notifyLive?.(e.node));
      if (e.type === 'dead' && cb.notifyDead) guard('notifyDead', () => cb.notifyDead?.(e.node));
      if (e.type === 'update' && cb.notifyUpdate) guard('notifyUpdate', () => cb.notifyUpdate?.(e.node));
      if (e.type === 'removed' && cb.notifyRemoved) guard('notifyRemoved', () => cb.notifyRemoved?.(e.node));
    }
    for (const q of this.streams) q.push(e);
  }
}

function toMember(v: NodeView): MemberInfo {
  return { ...v.node, status: v.status, heartbeat: v.heartbeat, metadata: v.values, ...(v.detector ? { detector: v.detector } : {}) };
}

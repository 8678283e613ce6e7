/**
 * The runtime: the pure core driven by a real UDP socket and a real clock.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ScuttlebuttCore } from '../core/core.js';
import { detectorPeriodMs } from '../core/detector.js';
import { seededRandom } from '../core/random.js';
import { carriesLowHeartbeats, isQueryMessage } from '../wire/codec.js';
import { MAX_ENVELOPE_OVERHEAD } from '../wire/envelope-sizes.js';
import type { NodeIdentity } from '../wire/messages.js';
import { PeerVersions } from '../transport/negotiation.js';
import { bindUdp, type UdpEndpoint } from '../transport/udp.js';
import {
  ForceLeaveError,
  type ClusterState,
  type EventsOptions,
  type Health,
  type IncludableEvent,
  type IncludableEvents,
  type Logger,
  type MemberFilter,
  type MemberInfo,
  type MembershipEvent,
  type ScuttlebuttConfig,
  type ScuttlebuttEvents,
  type Stats,
  type UserEventSent,
} from './api.js';
import { defaultLanConfig, formatHostPort, parseHostPort, validateConfig, type ConfigOverrides } from './config.js';
import { SeedWatch } from './seed-watch.js';
import { publish as diag } from './diagnostics.js';
import { Packets } from './packets.js';
import { monotonicNow, nextGeneration } from './clock.js';
import { selectMembers } from './health.js';
import { clusterState, convictingSilences, MemberEvents, memberEvent, toMember } from './member-events.js';
import { leaveProof } from './leave-secret.js';
import { DeadlineTimer, EagerRounds } from './extra-rounds.js';
import { Vitals, warnIfPlaintext } from './vitals.js';
import { ClosedError, InvalidArgumentError } from '../errors.js';
import { isUserEventMessage } from '../wire/user-events.js';
import { UserEvents } from './user-events.js';
import type { QueryHandler, QueryOptions, QueryResponses } from './api.js';
import { followMembers, type HashRing, type RingOptions } from '../ring/index.js';
import { nodeQueries, type Queries } from './queries.js';
import { liveness7Options, livenessStats, Mode7Runtime } from './mode7.js';

export type { ScuttlebuttEvents } from './api.js';

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };
/** A peer heard only in an older protocol is tried in the newest every this many rounds (see negotiation.ts). */
const PROBE_ROUNDS = 10;

/** Starts a node: validates the config, binds the socket, begins gossiping. Missing fields take the LAN defaults. */
export async function createScuttlebutt(
  config: ConfigOverrides = {},
  metadata: Readonly<Record<string, string>> = {},
): Promise<Scuttlebutt> {
  const cfg = validateConfig(defaultLanConfig(config));
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new InvalidArgumentError(`metadata["${k}"] must be a string (got ${typeof v})`);
  }
  const listen = parseHostPort(cfg.listenAddress) as { host: string; port: number };
  const udp = await bindUdp(listen.host, listen.port);
  // Bound to port 0 and advertising port 0: peers must be told the port the system picked.
  const advertised = parseHostPort(cfg.node.gossipPublicAddress);
  const bound = parseHostPort(udp.address);
  const final =
    advertised && bound && advertised.port === 0 && listen.port === 0
      ? { ...cfg, node: { ...cfg.node, gossipPublicAddress: formatHostPort(advertised.host, bound.port) } }
      : cfg;
  let node: Scuttlebutt;
  try {
    node = new Scuttlebutt(final, metadata, udp);
  } catch (err) {
    await udp.close();
    throw err;
  }
  // Protocol 7's streams: TCP on the UDP socket's host and port.
  await node['mode7']?.listen(bound?.host ?? listen.host, bound?.port ?? listen.port).catch(async (err: unknown) => {
    await node.shutdown({ leave: false });
    throw err;
  });
  return node;
}

export class Scuttlebutt extends EventEmitter<ScuttlebuttEvents> implements AsyncDisposable {
  readonly config: ScuttlebuttConfig;
  readonly self: NodeIdentity;
  private readonly core: ScuttlebuttCore;
  private readonly udp: UdpEndpoint;
  private readonly log: Logger;
  /** The gossip round's timer; null in protocol 7, whose detector's timer runs the round (Mode7Runtime). */
  private readonly timer: NodeJS.Timeout | null;
  private readonly seedWatch: SeedWatch;
  private readonly memberEvents: MemberEvents;
  private closing: Promise<void> | null = null;
  private gossipRounds = 0;
  /** Errors caught and survived (stats().errors): listeners that threw, exceptions while handling a packet. */
  private readonly errorCounts = { listener: 0, internal: 0 };
  private eventsOverflowed = 0;
  private readonly packets: Packets;
  private readonly eager: EagerRounds;
  private readonly deadline: DeadlineTimer;
  private readonly vitals: Vitals;
  private readonly userEvents: UserEvents;
  private readonly queries: Queries;
  /** Protocol 7's timers and streams (config.liveness); null in protocol 6. */
  private readonly mode7: Mode7Runtime | null = null;

  /**
   * Use createScuttlebutt(): binding a socket is asynchronous.
   * @internal
   */
  constructor(config: ScuttlebuttConfig, metadata: Readonly<Record<string, string>>, udp: UdpEndpoint) {
    super();
    this.config = config;
    this.udp = udp;
    this.log = config.logger ?? SILENT;
    const keys = config.secretKeys ?? [];
    this.self = { id: config.node.id, generation: nextGeneration(), address: config.node.gossipPublicAddress };
    const packets = new Packets(
      {
        udp,
        versions: new PeerVersions({ probeIntervalMs: PROBE_ROUNDS * config.gossipIntervalMs }),
        log: this.log,
        onPacket: (direction, bytes, peer) => (direction === 'in' ? diag.packetIn : diag.packetOut)(this, bytes, peer),
        onDrop: (reason) => diag.drop(this, reason),
      },
      {
        envelope: { keys, compress: config.enableCompression, maxPacketBytes: config.maxPacketBytes },
        replayCapacity: 2 * config.maxMembers,
      },
    );
    this.packets = packets;
    const liveness7 = liveness7Options(config);
    this.core = new ScuttlebuttCore(
      {
        clusterId: config.clusterId,
        self: this.self,
        fanout: config.gossipNodes,
        gossipIntervalMs: config.gossipIntervalMs,
        failureDetector: config.failureDetector,
        // Room for encryption is always kept, so keys can be turned on or rotated while running.
        payloadBudget: config.maxPacketBytes - MAX_ENVELOPE_OVERHEAD,
        tombstoneGracePeriodMs: config.tombstoneGracePeriodMs,
        eventViews: true,
        flowControl: config.flowControl,
        maxMembers: config.maxMembers,
        maxNewMembersPerSender: config.maxNewMembersPerSender,
        ...leaveProof(),
        // Low-bit heartbeats (protocol 4) only to a peer that will get this message in 4.
        lowBitsTo: (peer) => carriesLowHeartbeats(packets.versionTo(peer)),
        ...(liveness7 ? { liveness7 } : {}),
      },
      seededRandom(randomBytes(4).readUInt32LE(0)),
      monotonicNow(),
      metadata,
    );
    this.core.takeEvents();
    if (liveness7) {
      const [detect, round, changed] = [() => this.detect(), () => this.round(), () => this.publish()];
      this.mode7 = new Mode7Runtime(
        { core: this.core, packets, log: this.log, detect, round, changed },
        { config, udpAddress: udp.address },
      );
    }
    this.seedWatch = new SeedWatch(
      { core: this.core, packets, log: this.log },
      {
        selfAddresses: [this.self.address, udp.address],
        family: udp.address.startsWith('[') ? 6 : 4,
        dnsServers: config.dnsServers ?? [],
        resolveIntervalMs: config.seedResolveIntervalMs,
        contactsPerRun: config.gossipNodes,
      },
    );
    this.memberEvents = new MemberEvents({
      listeners: (type) => this.listeners(type) as ((...args: unknown[]) => void)[],
      callbacks: config.events,
      onListenerError: (event, listener, err) => {
        this.errorCounts.listener++;
        this.log.warn({ event, listener, err: (err as Error).message }, 'an event listener threw');
      },
      onOverflow: () => void this.eventsOverflowed++,
    });
    this.vitals = new Vitals(
      {
        core: this.core,
        seedWatch: this.seedWatch,
        log: this.log,
        node: this,
        emitThrottled: (info) => this.emit('throttled', info),
        emitUnthrottled: (info) => this.emit('unthrottled', info),
        onListenerError: () => void this.errorCounts.listener++,
      },
      { intervalMs: config.gossipIntervalMs },
    );
    const [self, core, log, events] = [this.self, this.core, this.log, this.memberEvents];
    this.userEvents = new UserEvents({ packets, deliver: events.deliverUser }, { config, self });
    this.queries = nodeQueries({ core, self, log, packets, emit: events.deliverQuery }, config);
    udp.onPacket((bytes, from) => this.onPacket(bytes, from));
    udp.onError((err) => this.log.warn({ err: err.message }, 'udp socket error'));
    const detectorPeriod = detectorPeriodMs(config.gossipIntervalMs);
    this.eager = new EagerRounds(
      {
        wanted: () => !this.closing && this.core.hasNews,
        run: (now) => {
          this.packets.sendAll(this.core.gossip(now));
          this.publish();
        },
      },
      { refillMs: detectorPeriod },
    );
    this.deadline = new DeadlineTimer(
      { detect: () => this.detect(), deaf: (now) => this.core.isDeaf(now) },
      { periodMs: detectorPeriod },
    );
    this.timer = this.mode7 ? null : setInterval(() => this.round(), config.gossipIntervalMs);
    this.log.info({ node: this.self, listen: udp.address }, 'scuttlebutt node started');
    warnIfPlaintext(config, this.log);
    diag.nodeStart(this);
  }

  /** The address the socket is bound to, "host:port" (useful with port 0). */
  get boundAddress(): string {
    return this.udp.address;
  }

  /**
   * Joins a cluster through seeds: "host:port", "[ipv6]:port", or "srv+NAME" (every target and port
   * of an SRV record). A host name stands for every A/AAAA address it has. Seeds are resolved now and
   * again every seedResolveIntervalMs; addresses that appear later are contacted at once. Throws a
   * SeedError on a malformed seed. Rejects with a DiscoveryError when not one address was found: the
   * seeds are kept and retried all the same, so a caller that starts before DNS is ready may go on.
   */
  async join(seeds: readonly string[]): Promise<void> {
    this.assertOpen();
    await this.seedWatch.join(seeds);
    if (this.closing) return;
    this.round(); // gossip now: joining should not wait for the next tick
  }

  /**
   * Replaces the keyring while running: the first key encrypts, all decrypt. Rotate without losing a
   * packet in three steps, each applied to every node before the next: [old, new], then [new, old], then [new].
   */
  setSecretKeys(keys: readonly Uint8Array[]): void {
    this.assertOpen();
    validateConfig({ ...this.config, secretKeys: keys });
    this.packets.setKeys(keys);
  }

  set(key: string, value: string): void {
    this.assertOpen();
    this.core.set(key, value, monotonicNow());
    this.publish();
    this.vitals.noteThrottle('write');
  }

  setWithTtl(key: string, value: string, ttlMs: number): void {
    this.assertOpen();
    this.core.setWithTtl(key, value, ttlMs, monotonicNow());
    this.publish();
    this.vitals.noteThrottle('write');
  }

  delete(key: string): void {
    this.assertOpen();
    this.core.delete(key, monotonicNow());
    this.publish();
  }

  /**
   * Broadcasts a user event to every live member that speaks protocol 6 (this node included), once
   * each, with the next Lamport time; `coalesce` (default true, as serf) lets receivers deliver only
   * the newest of a same-name burst. docs/building-on-membership.md says what is promised. Throws a
   * UserEventError: `bad-name`, `too-large`, `rate-limited` (userEvents limits), `closed`.
   */
  broadcast(name: string, payload?: string | Uint8Array, options?: { coalesce?: boolean }): UserEventSent {
    return this.userEvents.broadcast(name, payload, options);
  }

  /** The Lamport clocks (for a snapshot: give them back as config.lamportClocks after a restart). */
  lamportClocks(): { readonly event: number; readonly query: number } {
    return { event: this.userEvents.lamportClock, query: this.queries.lamportClock };
  }

  get(key: string): string | undefined {
    return this.core.get(key);
  }

  /** The membership as this node sees it: self, live members (each with its silence), dead ones, the seeds. */
  state(): ClusterState {
    return clusterState(this.core.snapshot(monotonicNow()), this.self, this.seedWatch.seeds);
  }

  /**
   * Members matching `filter` (all of them without one), self included, each with the detector's
   * view and, when live, how close it is to conviction (`silence`).
   */
  members(filter: MemberFilter = {}): MemberInfo[] {
    return selectMembers(this.core.snapshot(monotonicNow()), filter, (v) => v.values).map(toMember);
  }

  /** A consistent-hash ring following the live members matching `options.filter`, self included (HashRing). */
  ring(options: RingOptions = {}): HashRing {
    this.assertOpen();
    return followMembers(this, options);
  }

  /** Liveness and readiness (see Health): what an orchestrator's probes should ask. */
  health(): Health {
    return this.vitals.health(this.closing !== null);
  }

  /**
   * An operator's force-leave (serf's) of a member that is dead: it is removed from this node's
   * membership now (not a grace period later) and a leave is sent on its behalf to every live peer,
   * which removes it too, so stale gossip cannot bring it back (docs/cli.md: what happens if it was
   * alive after all). Returns the member as it was.
   * Throws ForceLeaveError for an unknown id ('not-found'), a live member ('live': it would only come
   * back; use leave() on that node) or this node ('self').
   */
  forceLeave(id: string): MemberInfo {
    this.assertOpen();
    if (id === this.self.id)
      throw new ForceLeaveError('self', `"${id}" is this node: use leave() to leave the cluster`);
    const view = this.core.member(id);
    if (!view) throw new ForceLeaveError('not-found', `no member "${id}" (already removed, or never known here)`);
    if (view.status === 'live')
      throw new ForceLeaveError(
        'live',
        `member "${id}" is live: only a dead member can be forced out ` +
          '(a live one would gossip its way back); stop it, or run leave on it',
      );
    const out = this.core.forceLeave(id, monotonicNow());
    if (!out) throw new ForceLeaveError('not-found', `no dead member "${id}"`);
    this.packets.sendAll(out);
    this.publish();
    return toMember(view);
  }

  /** Asks the live members matching a filter, collects their answers: see Queries.query (runtime/queries.ts). */
  query(name: string, payload?: string | Uint8Array, options?: QueryOptions): QueryResponses {
    return this.queries.query(name, payload, options);
  }

  /** Answers queries named `name` with `handler` (one per name): see Queries.onQuery. Returns the unregister. */
  onQuery(name: string, handler: QueryHandler): () => void {
    return this.queries.onQuery(name, handler);
  }

  stats(): Stats {
    const members = this.core.snapshot();
    return {
      ...this.packets.counters,
      gossipRounds: this.gossipRounds,
      dropped: { ...this.packets.dropped },
      errors: { ...this.errorCounts },
      eventsOverflowed: this.eventsOverflowed,
      rejected: { ...this.core.rejections() },
      packetsInByVersion: { ...this.packets.byVersion.packetsIn },
      packetsOutByVersion: { ...this.packets.byVersion.packetsOut },
      liveMembers: members.live.length,
      deadMembers: members.dead.length,
      flowControl: this.core.flowStats(monotonicNow()),
      replayWindows: this.packets.replayStats(),
      userEvents: this.userEvents.stats(),
      queries: this.queries.stats(),
      liveness: livenessStats(this.core, monotonicNow()),
    };
  }

  /**
   * Membership events as an async iterator, until `signal` aborts or the node shuts down; with
   * `include: ['user', 'query']` (either or both) user events and queries too, as UserEventRecord and
   * QueryRecord, in the order listeners hear them. A reader that falls more than `buffer` events behind
   * loses the oldest ones (counted in stats().eventsOverflowed) rather than growing memory without bound.
   * Throws InvalidArgumentError for an `include` naming anything else.
   */
  events<I extends IncludableEvent = never>(
    options: EventsOptions<I> = {},
  ): AsyncIterableIterator<MembershipEvent | IncludableEvents[I]> {
    const stream = this.memberEvents.stream(options);
    if (this.closing) void stream.return?.();
    return stream;
  }

  /**
   * Leaves the cluster gracefully: every live peer is told, and marks this node dead (reason "left")
   * at once instead of after the detection time; then gossip stops and the socket closes. The same
   * as shutdown() with its default. Idempotent.
   */
  leave(): Promise<void> {
    return this.shutdown({ leave: true });
  }

  /**
   * Stops all network activity and ends event streams. With `leave` (the default) it first leaves
   * gracefully (see leave()); with `leave: false` it goes silent, and peers convict it after the
   * detection time as they would a crash. Idempotent: the first call decides.
   */
  shutdown(options: { leave?: boolean } = {}): Promise<void> {
    const announce = options.leave ?? true;
    this.closing ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.eager.cancel();
      this.deadline.cancel();
      this.seedWatch.close();
      this.userEvents.close();
      this.queries.close();
      await this.mode7?.close();
      if (announce) await Promise.all(this.packets.sendAll(this.core.leave(monotonicNow())));
      await this.mode7?.linger(announce);
      await this.udp.close();
      this.memberEvents.end();
      this.log.info({ node: this.self }, 'scuttlebutt node stopped');
      diag.nodeStop(this);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  private assertOpen(): void {
    if (this.closing) throw new ClosedError('this scuttlebutt node has been shut down');
  }

  private round(): void {
    if (this.closing) return;
    this.gossipRounds++;
    const now = monotonicNow();
    this.vitals.roundStarted(now);
    this.packets.sendAll(this.core.tick(monotonicNow()));
    this.userEvents.round();
    this.vitals.noteStalls(now);
    this.publish();
    this.vitals.noteThrottle('round');
  }

  private detect(): void {
    if (this.closing) return;
    const now = monotonicNow();
    this.packets.sendAll(this.core.detect(now));
    this.vitals.noteStalls(now);
    this.publish();
  }

  private onPacket(bytes: Uint8Array, from: string): void {
    if (this.closing && !this.mode7?.lingering) return;
    try {
      const message = this.packets.open(bytes, from);
      if (!message) return;
      this.vitals.packetHeard(monotonicNow());
      if (isUserEventMessage(message)) return this.userEvents.receive(from, message);
      if (isQueryMessage(message)) return this.queries.receive(from, message);
      // A sender that is no member or seed is answered within an amplification allowance.
      if (this.core.isKnownAddress(from)) {
        this.packets.sendAll(this.core.receive(from, message, monotonicNow()));
      } else {
        const limit = this.packets.strangerAllowance(from, bytes.length);
        this.packets.sendAll(
          this.core.receive(from, message, monotonicNow(), { stranger: true, replyBudget: limit.replyBudget }),
          limit,
        );
      }
    } catch (err) {
      // Nothing from the network may crash the node: an unexpected error is counted and logged loudly.
      this.packets.abandon();
      this.errorCounts.internal++;
      this.log.error({ from, err: (err as Error).stack }, 'internal error while handling a packet');
    }
    this.publish();
  }

  /** Hands core events to listeners outside the gossip path: a slow or throwing listener cannot stall it. */
  private publish(): void {
    this.eager.request();
    // After anything the core did, the detector's timer follows its earliest deadline (a receive can move it sooner).
    if (this.mode7) this.mode7.changedCore();
    else this.deadline.arm(this.core.nextDeadline);
    const events = this.core.takeEvents();
    if (events.length === 0) return;
    this.userEvents.noteMembers(events);
    // The process behind a dead or replaced member's address may be another build next time.
    for (const e of events) if (e.type === 'dead' || e.type === 'removed') this.packets.versions.forget(e.node.address);
    const converted = events.map((e) => memberEvent(e, this.core));
    const silences = diag.wantsMembers ? convictingSilences(converted, this.core, monotonicNow()) : null;
    this.memberEvents.deliverLater(
      converted,
      silences ? () => converted.forEach((e, i) => diag.member(this, e, silences[i])) : undefined,
    );
  }
}

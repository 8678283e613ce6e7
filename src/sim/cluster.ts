/**
 * A simulated cluster: the unchanged protocol core on a virtual clock and a simulated network.
 * Crashes, restarts (new generation), pauses (SIGSTOP-like: nothing runs, input queues up),
 * graceful leaves and partitions. Same seed, same run, event for event.
 */
import { createHash } from 'node:crypto';
import { AssignmentPool } from '../core/assignment-pool.js';
import { ScuttlebuttCore } from '../core/core.js';
import { randomInt, seededRandom } from '../core/random.js';
import type { CoreEvent, CoreMessage, FailureDetectorConfig, FlowControlConfig, Random } from '../core/types.js';
import { coreMessageBytes, encodeAny } from '../wire/any.js';
import { ENVELOPE_HEADER_BYTES } from '../wire/codec.js';
import { LEAVE_SECRET_BYTES } from '../wire/messages.js';
import { EventHeap } from './event-heap.js';
import { SimNetwork, type NetworkConfig } from './network.js';
import { simReportSigner } from './report-signer.js';
import type { NodeDelta7 } from '../wire/liveness-messages.js';
import { nodeDeltas7Bytes } from '../wire/liveness-sizes.js';
import { plaintextPacketBytes } from './wire-bytes.js';

export interface SimConfig {
  readonly nodes: number;
  readonly fanout: number;
  readonly intervalMs: number;
  readonly seed: number;
  readonly network: NetworkConfig;
  readonly failureDetector: FailureDetectorConfig;
  /** Per-message payload budget (the runtime's default packet less envelope and encryption room). */
  readonly payloadBudget: number;
  readonly tombstoneGracePeriodMs: number;
  /** How many seed addresses each node starts with (the first nodes of the cluster). */
  readonly seeds: number;
  /** Timer jitter per tick, ms: real timers drift, and lockstep rounds would flatter the protocol. */
  readonly tickJitterMs: number;
  /** Failure-detector runs per round, as the runtime does (1 = only with the gossip tick). */
  readonly detectsPerRound: number;
  /**
   * Members start as if up for 0 to this many seconds already (a heartbeat a gossip interval):
   * a long-running cluster's heartbeats differ member to member, a freshly started one's do not,
   * and that decides how well digests compress. 0 (default): all start at heartbeat 1.
   */
  readonly uptimeSpreadS?: number;
  /** Flow control of each node's own writes (absent: off, every write gossips at once). */
  readonly flowControl?: FlowControlConfig | undefined;
  /**
   * Protocol 7's liveness on every node (CoreConfig.liveness7), each incarnation signing with a key drawn from the
   * run's seed (simReportSigner). Absent: protocol 6.
   */
  readonly liveness7?: { readonly observers?: number; readonly gateHoldMs?: number } | undefined;
  /** Called as node `node` publishes an own write with its version (see CoreConfig.onPublish). */
  readonly onPublish?: ((node: number, key: string, version: number) => void) | undefined;
}

/** A stream's throughput in the simulator: 100 MB/s, a LAN's TCP. */
const STREAM_BYTES_PER_MS = 100_000;

export const UP = 0;
export const CRASHED = 1;
export const PAUSED = 2;

type SimEvent =
  | { time: number; seq: number; kind: 'tick'; node: number; epoch: number }
  | { time: number; seq: number; kind: 'detect'; node: number; epoch: number }
  | { time: number; seq: number; kind: 'eager'; node: number; epoch: number }
  | { time: number; seq: number; kind: 'deliver'; node: number; from: number; message: CoreMessage; epoch: number }
  | { time: number; seq: number; kind: 'stream'; node: number; from: number; nodes: NodeDelta7[]; epoch: number };

export type EventListener = (observer: number, event: CoreEvent, time: number) => void;
/** Sees every message a node hands to the network, before loss: for traces and golden tests. */
export type SendListener = (from: number, to: string, message: CoreMessage, time: number) => void;

/**
 * Node i's leave secret for one incarnation, from the run's seed: replayable, and drawn from a
 * stream of its own, so the runs' other random choices are the ones they were before secrets.
 */
function leaveSecret(seed: number, i: number, generation: number): Uint8Array {
  const rng = seededRandom((seed * 2_654_435_761 + i * 40_503 + generation) ^ 0x1ea7e5ec);
  return Uint8Array.from({ length: LEAVE_SECRET_BYTES }, () => Math.floor(rng.next() * 256));
}

function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

export function simAddress(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9111`;
}

export class SimCluster {
  now = 0;
  readonly cores: (ScuttlebuttCore | null)[];
  readonly status: Uint8Array;
  readonly generations: Float64Array;
  readonly network: SimNetwork;
  /** Wire bytes sent per node since the last resetTraffic(), envelope header included. */
  readonly bytesSent: Float64Array;
  maxPacketBytes = 0;
  /** Count bytes (costs a size computation per message): switch off for speed outside measurement windows. */
  countBytes = true;
  /** Nodes that agree on the live view share one observer assignment (40 B a pair each otherwise). */
  private readonly assignments = new AssignmentPool();
  /**
   * While counting, every `wireSampleEvery`-th node's messages are also encoded and sealed as the
   * runtime sends them by default (DEFLATE when it helps, no encryption), to count wire bytes. A
   * sample, because encoding and compressing every message of 10,000 nodes would dominate the run.
   */
  wireSampleEvery = 1;
  /** Sealed bytes sent by the sampled nodes since the last resetTraffic(). */
  readonly wireBytesSent: Float64Array;
  private trafficSince = 0;
  private readonly addressIndex = new Map<string, number>();
  /**
   * simAddress(i), made once: a node keeps the sender addresses it is told, as map keys (its cache of peers'
   * membership hashes, for one), and a string built per delivery would be a copy per node.
   */
  private readonly addresses: string[];
  private readonly heap = new EventHeap<SimEvent>();
  private readonly rng: Random;
  private seq = 0;
  /** Bumped on crash/restart so a dead incarnation's stale ticks and deliveries are ignored. */
  private readonly epochs: Uint32Array;
  private readonly pausedInbox = new Map<number, { from: number; message: CoreMessage }[]>();
  private readonly listeners: EventListener[] = [];
  private readonly sendListeners: SendListener[] = [];
  /** As the runtime: news triggers an extra round, at most detectsPerRound rounds per interval. */
  private readonly lastRound: Float64Array;
  private readonly eagerPending: Uint8Array;

  constructor(readonly config: SimConfig) {
    const n = config.nodes;
    this.rng = seededRandom(config.seed);
    this.network = new SimNetwork(n, config.network, seededRandom(config.seed ^ 0x5bd1e995));
    this.cores = new Array<ScuttlebuttCore | null>(n).fill(null);
    this.status = new Uint8Array(n).fill(CRASHED);
    this.generations = new Float64Array(n);
    this.bytesSent = new Float64Array(n);
    this.wireBytesSent = new Float64Array(n);
    this.epochs = new Uint32Array(n);
    this.lastRound = new Float64Array(n);
    this.eagerPending = new Uint8Array(n);
    this.addresses = Array.from({ length: n }, (_, i) => simAddress(i));
    this.addresses.forEach((address, i) => this.addressIndex.set(address, i));
  }

  /**
   * Whether node i's next start runs protocol 7's liveness (SimConfig.liveness7 given): every node, unless a
   * scenario (a rolling upgrade, an old node joining) says otherwise.
   */
  speaks7: (i: number) => boolean = () => true;

  onEvent(listener: EventListener): void {
    this.listeners.push(listener);
  }

  onSend(listener: SendListener): void {
    this.sendListeners.push(listener);
  }

  /** Starts node i (first start or restart with the next generation), its first tick at a random phase. */
  start(i: number, values: Readonly<Record<string, string>> = {}): ScuttlebuttCore {
    const c = this.config;
    this.generations[i] = (this.generations[i] as number) + 1;
    this.epochs[i] = (this.epochs[i] as number) + 1;
    const core = new ScuttlebuttCore(
      {
        clusterId: 'sim',
        self: { id: `node-${i}`, generation: this.generations[i] as number, address: this.addresses[i] as string },
        fanout: c.fanout,
        gossipIntervalMs: c.intervalMs,
        failureDetector: c.failureDetector,
        payloadBudget: c.payloadBudget,
        tombstoneGracePeriodMs: c.tombstoneGracePeriodMs,
        expectedMembers: c.nodes,
        firstHeartbeat: this.firstHeartbeat(i),
        leaveSecret: leaveSecret(c.seed, i, this.generations[i] as number),
        hash: sha256,
        ...(c.flowControl ? { flowControl: c.flowControl } : {}),
        ...(c.liveness7 && this.speaks7(i)
          ? {
              liveness7: {
                ...c.liveness7,
                signer: simReportSigner(c.seed, i, this.generations[i] as number),
                assignmentPool: this.assignments,
              },
            }
          : {}),
        ...(c.onPublish ? { onPublish: (key: string, version: number) => c.onPublish?.(i, key, version) } : {}),
      },
      seededRandom((c.seed * 1_000_003 + i * 7919 + (this.generations[i] as number)) >>> 0),
      this.now,
      values,
    );
    const seeds: string[] = [];
    for (let s = 0; s < Math.min(c.seeds, c.nodes); s++) if (s !== i) seeds.push(this.addresses[s] as string);
    core.setSeeds(seeds);
    this.cores[i] = core;
    this.status[i] = UP;
    this.emit(i, core);
    this.schedule({
      time: this.now + this.rng.next() * c.intervalMs,
      seq: 0,
      kind: 'tick',
      node: i,
      epoch: this.epochs[i] as number,
    });
    return core;
  }

  /** A first start may be "up for a while already" (uptimeSpreadS); a restart starts afresh. */
  private firstHeartbeat(i: number): number {
    const spread = this.config.uptimeSpreadS ?? 0;
    if (spread <= 0 || this.generations[i] !== 1) return 1;
    return 1 + Math.floor(this.rng.next() * ((spread * 1000) / this.config.intervalMs));
  }

  crash(i: number): void {
    this.status[i] = CRASHED;
    this.epochs[i] = (this.epochs[i] as number) + 1;
    this.pausedInbox.delete(i);
  }

  restart(i: number, values: Readonly<Record<string, string>> = {}): ScuttlebuttCore {
    this.crash(i);
    return this.start(i, values);
  }

  /** Like SIGSTOP for `ms`: no ticks, input queues up and is handled at once on resume. */
  pause(i: number, ms: number): void {
    if (this.status[i] !== UP) return;
    this.status[i] = PAUSED;
    this.pausedInbox.set(i, []);
    this.schedule({ time: this.now + ms, seq: 0, kind: 'tick', node: i, epoch: -1 - (this.epochs[i] as number) });
  }

  leave(i: number): void {
    const core = this.cores[i];
    if (!core || this.status[i] !== UP) return;
    this.send(i, core.leave(this.now));
    this.crash(i);
  }

  resetTraffic(): void {
    this.bytesSent.fill(0);
    this.wireBytesSent.fill(0);
    this.trafficSince = this.now;
  }

  /**
   * Bytes per node per second since resetTraffic(), over nodes that are up: `mean`/`max` as
   * encoded (every node), `wireMean`/`wireMax` as sealed and compressed (the sampled nodes).
   */
  traffic(): { mean: number; max: number; wireMean: number; wireMax: number; wireSampled: number } {
    const seconds = (this.now - this.trafficSince) / 1000;
    const encoded = { sum: 0, max: 0, n: 0 };
    const wire = { sum: 0, max: 0, n: 0 };
    const add = (acc: { sum: number; max: number; n: number }, bytes: number): void => {
      acc.sum += bytes / seconds;
      acc.max = Math.max(acc.max, bytes / seconds);
      acc.n++;
    };
    for (let i = 0; i < this.config.nodes; i++) {
      if (this.status[i] !== UP) continue;
      add(encoded, this.bytesSent[i] as number);
      if (i % this.wireSampleEvery === 0) add(wire, this.wireBytesSent[i] as number);
    }
    const mean = (acc: { sum: number; n: number }): number => (acc.n ? acc.sum / acc.n : 0);
    return { mean: mean(encoded), max: encoded.max, wireMean: mean(wire), wireMax: wire.max, wireSampled: wire.n };
  }

  randomNode(filter: (i: number) => boolean = (i) => this.status[i] === UP): number {
    for (let attempt = 0; attempt < 1000; attempt++) {
      const i = randomInt(this.rng, this.config.nodes);
      if (filter(i)) return i;
    }
    throw new Error('no node matches');
  }

  /** Runs the simulation until `time` (ms). */
  runUntil(time: number): void {
    for (;;) {
      const next = this.heap.peek();
      if (!next || next.time > time) break;
      this.heap.pop();
      this.now = next.time;
      this.handle(next);
    }
    this.now = Math.max(this.now, time);
  }

  /** Runs until `done()` holds (checked after every event) or `maxMs` pass; returns whether it held. */
  runUntilTrue(done: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    while (!done()) {
      const next = this.heap.peek();
      if (!next || next.time > end) {
        this.now = end;
        return done();
      }
      this.heap.pop();
      this.now = next.time;
      this.handle(next);
    }
    return true;
  }

  private schedule(e: SimEvent): void {
    e.seq = this.seq++;
    this.heap.push(e);
  }

  private handle(e: SimEvent): void {
    const i = e.node;
    if (e.kind === 'eager') {
      this.eagerPending[i] = 0;
      const core = this.cores[i];
      if (e.epoch === this.epochs[i] && this.status[i] === UP && core?.hasNews) {
        this.lastRound[i] = this.now;
        this.send(i, core.gossip(this.now));
        this.emit(i, core);
      }
      return;
    }
    if (e.kind === 'stream') {
      const core = this.cores[i];
      if (e.epoch === this.epochs[i] && this.status[i] === UP && core) {
        core.streamIn(e.nodes, simAddress(e.from), this.now);
        this.emit(i, core);
      }
      return;
    }
    if (e.kind === 'detect') {
      if (e.epoch === this.epochs[i] && this.status[i] === UP) {
        const core = this.cores[i] as ScuttlebuttCore;
        this.send(i, core.detect(this.now));
        this.emit(i, core);
      }
      return;
    }
    if (e.kind === 'tick') {
      if (e.epoch < 0) {
        // End of a pause: deliver what queued up, then tick at once (a stopped timer fires on resume).
        if (this.status[i] !== PAUSED || -1 - e.epoch !== this.epochs[i]) return;
        this.status[i] = UP;
        const core = this.cores[i] as ScuttlebuttCore;
        for (const m of this.pausedInbox.get(i) ?? [])
          this.send(i, core.receive(this.addresses[m.from] as string, m.message, this.now));
        this.pausedInbox.delete(i);
        this.runTick(i);
        return;
      }
      if (e.epoch !== this.epochs[i]) return;
      if (this.status[i] === PAUSED) return; // the resume event re-arms the timer
      this.runTick(i);
      return;
    }
    // Packets in flight reach whatever process holds the address now: a restarted node gets them too.
    if (this.status[i] === PAUSED) {
      this.pausedInbox.get(i)?.push({ from: e.from, message: e.message });
      return;
    }
    if (this.status[i] !== UP) return;
    const core = this.cores[i] as ScuttlebuttCore;
    this.send(i, core.receive(this.addresses[e.from] as string, e.message, this.now));
    this.emit(i, core);
  }

  private runTick(i: number): void {
    const core = this.cores[i] as ScuttlebuttCore;
    this.lastRound[i] = this.now;
    this.send(i, core.tick(this.now));
    this.emit(i, core);
    const jitter = this.config.tickJitterMs > 0 ? (this.rng.next() - 0.5) * this.config.tickJitterMs : 0;
    const I = this.config.intervalMs;
    const epoch = this.epochs[i] as number;
    this.schedule({ time: this.now + I + jitter, seq: 0, kind: 'tick', node: i, epoch });
    for (let k = 1; k < this.config.detectsPerRound; k++) {
      this.schedule({ time: this.now + (I * k) / this.config.detectsPerRound, seq: 0, kind: 'detect', node: i, epoch });
    }
  }

  private send(from: number, out: readonly { to: string; message: CoreMessage }[]): void {
    for (const o of out) {
      for (const l of this.sendListeners) l(from, o.to, o.message, this.now);
      if (this.countBytes) {
        const bytes = coreMessageBytes(o.message) + ENVELOPE_HEADER_BYTES;
        this.bytesSent[from] = (this.bytesSent[from] as number) + bytes;
        if (bytes > this.maxPacketBytes) this.maxPacketBytes = bytes;
        if (from % this.wireSampleEvery === 0) {
          const body = encodeAny(o.message);
          this.wireBytesSent[from] = (this.wireBytesSent[from] as number) + plaintextPacketBytes(body);
        }
      }
      const to = this.addressIndex.get(o.to);
      if (to === undefined) continue;
      const delay = this.network.transmit(from, to);
      if (delay < 0) continue;
      this.deliverAfter(delay, from, to, o.message);
      const again = this.network.duplicateDelay();
      if (again >= 0) this.deliverAfter(again, from, to, o.message);
    }
  }

  /** A message arriving at `to` after `delay` ms, unless `to` restarts meanwhile (its epoch moves on). */
  private deliverAfter(delay: number, from: number, to: number, message: CoreMessage): void {
    this.schedule({
      time: this.now + delay,
      seq: 0,
      kind: 'deliver',
      node: to,
      from,
      message,
      epoch: this.epochs[to] as number,
    });
  }

  /**
   * A stream node i opened to `address` for the peer's whole state (protocol 7: a joiner's first sync, a drill-down
   * too big for a packet): one reliable transfer, after a connection's round trips and the bytes at 100 MB/s, or
   * nothing when the network drops the opening packet (a partition, loss: TCP would retry; the core asks again).
   */
  private openStream(i: number, address: string): void {
    const j = this.addressIndex.get(address);
    const peer = j === undefined ? null : this.cores[j];
    if (j === undefined || !peer || this.status[j] !== UP) return;
    const delay = this.network.transmit(i, j);
    if (delay < 0) return;
    const nodes: NodeDelta7[] = [];
    for (const batch of peer.streamOut()) nodes.push(...batch);
    const bytes = nodeDeltas7Bytes(nodes);
    if (this.countBytes) this.bytesSent[j] = (this.bytesSent[j] as number) + bytes;
    this.schedule({
      time: this.now + 3 * delay + bytes / STREAM_BYTES_PER_MS,
      seq: 0,
      kind: 'stream',
      node: i,
      from: j,
      nodes,
      epoch: this.epochs[i] as number,
    });
  }

  private emit(i: number, core: ScuttlebuttCore): void {
    for (const address of core.takeStreamRequests()) this.openStream(i, address);
    if (core.hasNews && this.eagerPending[i] === 0 && this.status[i] === UP && this.config.detectsPerRound > 1) {
      this.eagerPending[i] = 1;
      const at = Math.max(
        this.now,
        (this.lastRound[i] as number) + this.config.intervalMs / this.config.detectsPerRound,
      );
      this.schedule({ time: at, seq: 0, kind: 'eager', node: i, epoch: this.epochs[i] as number });
    }
    const events = core.takeEvents();
    if (events.length === 0 || this.listeners.length === 0) return;
    for (const e of events) for (const l of this.listeners) l(i, e, this.now);
  }
}

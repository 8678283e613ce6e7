/**
 * A small in-memory cluster for core tests: every message goes through the real codec (so the
 * core and the wire format are tested together), and the network can drop, duplicate and
 * reorder from a seeded RNG. The full simulator lives in src/sim; this stays tiny on purpose.
 */
import { createHash } from 'node:crypto';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { seededRandom } from '../../src/core/random.js';
import {
  DEFAULT_FAILURE_DETECTOR,
  type CoreConfig,
  type CoreEvent,
  type FailureDetectorConfig,
  type Outbound,
  type CoreMessage,
  type Random,
} from '../../src/core/types.js';
import { decodeAny, encodeAny } from '../../src/wire/any.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from '../../src/wire/codec.js';
import { isQueryMessage } from '../../src/wire/query-codec.js';
import { isUserEventMessage } from '../../src/wire/user-events.js';

/** A body the core sent, decoded as the runtime does (membership and liveness messages; the core sends no other). */
function decodeCore(bytes: Uint8Array, version: ProtocolVersion): CoreMessage {
  const m = decodeAny(bytes, version);
  if (isUserEventMessage(m) || isQueryMessage(m)) throw new Error(`the core sent a ${m.type} message`);
  return m;
}

/** The default detector, with a shorter window and grace period so that tests see removals soon. */
export const TEST_FD: FailureDetectorConfig = {
  ...DEFAULT_FAILURE_DETECTOR,
  samplingWindowSize: 50,
  deadNodeGracePeriodMs: 20_000,
};

export interface NetworkFaults {
  loss?: number;
  duplicate?: number;
  /** Max extra delay in ms, uniformly drawn: reorders messages. */
  jitterMs?: number;
}

export function coreConfig(i: number, overrides: Partial<CoreConfig> = {}, generation = 1): CoreConfig {
  return {
    clusterId: 'test',
    self: { id: `n${i}`, generation, address: `10.0.0.${i}:9111` },
    fanout: 3,
    gossipIntervalMs: 1000,
    failureDetector: TEST_FD,
    payloadBudget: 65_000,
    tombstoneGracePeriodMs: 30_000,
    ...overrides,
  };
}

/** SHA-256, as the runtime injects it (CoreConfig.hash). */
export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

/** A leave secret and the hash for node i's incarnation `generation` (CoreConfig.leaveSecret, CoreConfig.hash). */
export function leaveProof(i: number, generation = 1): Pick<CoreConfig, 'leaveSecret' | 'hash'> {
  return {
    leaveSecret: Uint8Array.from({ length: 16 }, (_, k) => (i * 31 + generation * 7 + k * 13) & 255),
    hash: sha256,
  };
}

interface InFlight {
  at: number;
  seq: number;
  from: string;
  to: string;
  bytes: Uint8Array;
}

export class MiniCluster {
  readonly nodes = new Map<string, ScuttlebuttCore>();
  /** Every message is checked against its sender's payload budget: a packet over it throws. */
  private readonly budgets = new Map<string, number>();
  readonly events: { at: string; event: CoreEvent }[] = [];
  readonly down = new Set<string>();
  /** Pairs of addresses that cannot talk (both directions). */
  readonly cut = new Set<string>();
  now = 0;
  maxPacket = 0;
  /** Nodes that speak an older protocol: messages to and from them are written and read in it. */
  readonly versions = new Map<string, ProtocolVersion>();
  private queue: InFlight[] = [];
  private seq = 0;
  private readonly rng: Random;

  constructor(
    seed: number,
    public faults: NetworkFaults = {},
  ) {
    this.rng = seededRandom(seed);
  }

  add(config: CoreConfig, seeds: string[] = [], values: Record<string, string> = {}): ScuttlebuttCore {
    const core = new ScuttlebuttCore(config, seededRandom(this.nodes.size * 7919 + 17), this.now, values);
    core.setSeeds(seeds);
    this.nodes.set(config.self.address, core);
    this.budgets.set(config.self.address, config.payloadBudget);
    this.down.delete(config.self.address);
    return core;
  }

  partition(a: string[], b: string[]): void {
    for (const x of a)
      for (const y of b) {
        this.cut.add(`${x}|${y}`);
        this.cut.add(`${y}|${x}`);
      }
  }

  heal(): void {
    this.cut.clear();
  }

  send(from: string, out: Outbound[]): void {
    for (const o of out) {
      const bytes = encodeAny(o.message, this.versionBetween(from, o.to));
      this.maxPacket = Math.max(this.maxPacket, bytes.length);
      const budget = this.budgets.get(from) ?? Infinity;
      if (bytes.length > budget)
        throw new Error(`${from} sent a ${o.message.type} of ${bytes.length} bytes over its ${budget}-byte budget`);
      if (this.faults.loss && this.rng.next() < this.faults.loss) continue;
      const copies = this.faults.duplicate && this.rng.next() < this.faults.duplicate ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const delay = 1 + (this.faults.jitterMs ? this.rng.next() * this.faults.jitterMs : 0);
        this.queue.push({ at: this.now + delay, seq: this.seq++, from, to: o.to, bytes });
      }
    }
  }

  private versionBetween(a: string, b: string): ProtocolVersion {
    return Math.min(
      this.versions.get(a) ?? PROTOCOL_VERSION,
      this.versions.get(b) ?? PROTOCOL_VERSION,
    ) as ProtocolVersion;
  }

  private collect(): void {
    for (const [addr, core] of this.nodes) for (const event of core.takeEvents()) this.events.push({ at: addr, event });
  }

  /**
   * Runs `ms` of virtual time: every live node ticks each second (phase by index), messages delivered in time order.
   */
  run(ms: number): void {
    const end = this.now + ms;
    const addrs = [...this.nodes.keys()];
    while (this.now < end) {
      const next = this.now + 10;
      // deliver due messages
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      while (this.queue.length > 0 && (this.queue[0] as InFlight).at <= next) {
        const m = this.queue.shift() as InFlight;
        if (this.down.has(m.to) || this.down.has(m.from) || this.cut.has(`${m.from}|${m.to}`)) continue;
        const core = this.nodes.get(m.to);
        if (!core) continue;
        this.now = Math.max(this.now, m.at);
        this.send(m.to, core.receive(m.from, decodeCore(m.bytes, this.versionBetween(m.from, m.to)), this.now));
      }
      this.now = next;
      addrs.forEach((addr, i) => {
        const core = this.nodes.get(addr);
        if (!core || this.down.has(addr)) return;
        if ((this.now + i * 37) % 1000 < 10) this.send(addr, core.tick(this.now));
      });
      this.collect();
    }
  }
}

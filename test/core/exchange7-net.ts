/**
 * A pure network of protocol-7 state nodes (test/core/state7-node.ts's Node7) driven through their Exchange7s:
 * every message goes through the real codec, beats carry state hashes to a ring of neighbours, news rounds send
 * hot digests to random members, and stream requests are served as one reliable transfer each way.
 */
import { SELF } from '../../src/core/membership.js';
import { randomInt, seededRandom } from '../../src/core/random.js';
import type { Outbound7Any } from '../../src/core/exchange7.js';
import type { Random } from '../../src/core/types.js';
import { encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import type { LivenessMessage } from '../../src/wire/liveness-messages.js';
import { introductions, Node7, overWire } from './state7-node.js';

export interface NetOptions {
  readonly n: number;
  readonly seed: number;
  readonly payloadBudget?: number;
  /** Beat neighbours each side on a ring (2 x this many per node). */
  readonly ringReach?: number;
  /** Targets of a news round. */
  readonly fanout?: number;
  /** Ms between news rounds (beats go once per BEAT_EVERY rounds). */
  readonly roundMs?: number;
}

/** News rounds per beat: four eager rounds an interval, one beat an interval. */
const BEAT_EVERY = 4;

export class Net7 {
  readonly nodes: Node7[];
  readonly rng: Random;
  readonly byAddress = new Map<string, Node7>();
  /** Bytes and messages sent, by message type (encoded body). */
  readonly bytes = new Map<string, number>();
  readonly counts = new Map<string, number>();
  streams = 0;
  now = 1000;
  round = 0;
  /** When true, every message and beat is lost (a partition of everyone). */
  silent = false;
  private readonly budget: number;
  private readonly reach: number;
  private readonly fanout: number;
  private readonly roundMs: number;

  constructor(options: NetOptions) {
    this.rng = seededRandom(options.seed);
    this.budget = options.payloadBudget ?? 1400;
    this.reach = options.ringReach ?? 2;
    this.fanout = options.fanout ?? 3;
    this.roundMs = options.roundMs ?? 250;
    this.nodes = Array.from({ length: options.n }, (_, i) => new Node7(i + 1));
    for (const node of this.nodes) this.byAddress.set(node.address, node);
    // Everyone knows everyone: each node's own delta applied at every other.
    const intros = this.nodes.map((node) => introductions(node));
    for (const [i, node] of this.nodes.entries())
      for (const [j, intro] of intros.entries()) if (i !== j) node.deltas.apply(intro, this.now);
    for (const node of this.nodes) this.settle(node);
  }

  /** Ends `node`'s news: its rounds pass until nothing is hot. */
  settle(node: Node7): void {
    while (node.state.hotSlots().length > 0) node.state.startRound();
  }

  x(node: Node7) {
    return node.exchange7(this.budget);
  }

  /** The ring neighbours of node i (by index). */
  neighbours(i: number): number[] {
    const n = this.nodes.length;
    const out: number[] = [];
    for (let d = 1; d <= this.reach; d++) out.push((i + d) % n, (i - d + n) % n);
    return out;
  }

  /** Delivers `outs` from `from` and every reply they cause, each through the codec. */
  deliver(from: Node7, outs: Outbound7Any[]): void {
    const queue: { from: Node7; out: Outbound7Any }[] = outs.map((out) => ({ from, out }));
    const touched = new Set<Node7>([from]);
    while (queue.length > 0) {
      const { from: sender, out } = queue.shift() as { from: Node7; out: Outbound7Any };
      if (this.silent) continue;
      const to = this.byAddress.get(out.to);
      if (!to) continue;
      const type = out.message.type;
      this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
      this.bytes.set(type, (this.bytes.get(type) ?? 0) + encodeLivenessMessage(out.message as LivenessMessage).length);
      const replies = this.x(to).receive(sender.address, overWire(out), this.now);
      touched.add(to);
      for (const reply of replies) queue.push({ from: to, out: reply });
    }
    for (const node of touched) this.serveStreams(node);
  }

  /** A node's stream requests, each served both ways at once (the simulator's one reliable message). */
  private serveStreams(node: Node7): void {
    for (const address of this.x(node).takeStreamRequests()) {
      const peer = this.byAddress.get(address);
      if (!peer || this.silent) continue;
      this.streams++;
      for (const batch of this.x(peer).streamOut()) this.x(node).streamIn(batch, this.now, peer.address);
      for (const batch of this.x(node).streamOut()) this.x(peer).streamIn(batch, this.now, node.address);
    }
  }

  /**
   * One news round: every node with news sends its hot digest to `fanout` random others; then every node's round
   * ends (state.startRound). Every BEAT_EVERY rounds, each node's beat (its state hash) reaches its neighbours.
   */
  step(): void {
    this.now += this.roundMs;
    this.round++;
    const n = this.nodes.length;
    // Every node's news is written before any is delivered: an item moves one hop a round.
    const news = this.nodes.map((node) => {
      const targets = new Set<string>();
      while (targets.size < Math.min(this.fanout, n - 1)) {
        const peer = this.nodes[randomInt(this.rng, n)] as Node7;
        if (peer !== node) targets.add(peer.address);
      }
      return this.x(node).news([...targets], this.now, 0);
    });
    for (const [i, node] of this.nodes.entries()) this.deliver(node, news[i] as Outbound7Any[]);
    for (const node of this.nodes) node.state.startRound();
    if (this.round % BEAT_EVERY === 0) this.beats();
  }

  /** Every node's beat to each neighbour carries its state hash at sending. */
  beats(): void {
    if (this.silent) return;
    const hashes = this.nodes.map((node) => node.state.hash);
    for (const [i, node] of this.nodes.entries()) {
      for (const j of this.neighbours(i)) {
        const to = this.nodes[j] as Node7;
        const slot = to.membership.slotOfRef(node.ref);
        if (slot <= SELF) continue;
        this.deliver(to, this.x(to).onBeatHash(slot, hashes[i] as number, this.now));
      }
    }
  }

  /** Whether every node holds the same state hash. */
  converged(): boolean {
    const h = this.nodes[0]?.state.hash;
    return this.nodes.every((node) => node.state.hash === h);
  }

  /** Nodes holding `owner`'s max version at least `version`. */
  holding(owner: Node7, version: number): number {
    let k = 0;
    for (const node of this.nodes) {
      const s = node.membership.slotOfRef(owner.ref);
      if (s >= 0 && node.membership.table.maxVersion(s) >= version) k++;
    }
    return k;
  }

  sent(type: string): { count: number; bytes: number } {
    return { count: this.counts.get(type) ?? 0, bytes: this.bytes.get(type) ?? 0 };
  }
}

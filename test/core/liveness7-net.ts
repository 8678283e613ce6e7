/**
 * A seeded in-test network of Liveness7 nodes for test/core/liveness7-cluster.test.ts. Every protocol-7 message
 * goes through the real codec (encodeLivenessMessage, then decodeLivenessMessage at the receiver), is delivered
 * after a random LAN latency, and is lost with a per-packet probability (plus a per-node outbound loss). Each
 * node ticks every quarter interval at its own phase.
 *
 * State transfer is modelled, not run: Scuttlebutt (node deltas, hot digests, drill-down) is not wired to
 * protocol 7 yet, so a node's new report set and a raised incarnation reach every node that can exchange with
 * it (both directions open) after a gossip-like delay of 0.5 to 1.5 s, each receiver drawing its own delay.
 * Partitions are cuts between sides (`cut`); a crashed node stops sending, receiving and ticking.
 */
import type { Liveness7 } from '../../src/core/liveness7.js';
import type { ConvictionReason, Outbound7 } from '../../src/core/liveness7-parts.js';
import { seededRandom } from '../../src/core/random.js';
import type { Random } from '../../src/core/types.js';
import { simReportSigner } from '../../src/sim/report-signer.js';
import { decodeLivenessMessage, encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import { LIVENESS_TYPE_CODES, type ReportSet } from '../../src/wire/liveness-messages.js';
import { ENVELOPE_HEADER_BYTES } from '../../src/wire/protocol.js';
import { INTERVAL_MS, liveness7Node } from './liveness7-node.js';
import { TimedCallbacks } from './timed-callbacks.js';

export { INTERVAL_MS };
const ROUND_MS = INTERVAL_MS / 4;
const STATE_HASH = 0x0123_4567_89ab;

export interface ConvictionEvent {
  readonly at: number;
  readonly node: number;
  readonly subject: number;
  readonly reason: ConvictionReason;
}

export interface Liveness7NetOptions {
  n: number;
  seed: number;
  /** Per-packet loss on every link (default 0.01). */
  loss?: number;
  /** The modelled state transfer's delay to each receiver, [least, most] ms (default [500, 1500]). */
  spreadMs?: readonly [number, number];
}

export class Liveness7Net {
  readonly n: number;
  readonly refs: number[];
  readonly index = new Map<number, number>();
  readonly nodes: Liveness7[];
  readonly convictions: ConvictionEvent[] = [];
  readonly revivals: { at: number; node: number; subject: number }[] = [];
  /** Per node: refutations (incarnation raises). */
  readonly refutations: Int32Array;
  /** Per node: encoded bytes sent (body + envelope), beats and everything else apart. */
  readonly beatBytes: Float64Array;
  readonly otherBytes: Float64Array;
  readonly beatsSent: Float64Array;
  /** Per node: extra loss of its outbound packets. */
  readonly outboundLoss: Float64Array;
  /** Per node: its side; packets cross sides only while `cut` is false. */
  readonly side: Int32Array;
  cut = false;
  /** While cut, packets from side 1 to side 0 still pass (a one-way cut: side 0 hears side 1, not back). */
  oneWay = false;
  readonly crashed: Uint8Array;
  /** When set, a message of this type from x reaches y only if it returns true (a burst on y's inbound link). */
  admits: ((x: number, y: number, type: string) => boolean) | null = null;
  now = 0;
  private readonly rng: Random;
  private readonly loss: number;
  private readonly spreadMs: readonly [number, number];
  private readonly events = new TimedCallbacks();
  private readonly keys: Uint8Array[];

  constructor(o: Liveness7NetOptions) {
    this.n = o.n;
    this.loss = o.loss ?? 0.01;
    this.spreadMs = o.spreadMs ?? [500, 1500];
    this.rng = seededRandom(o.seed);
    const refSet = new Set<number>();
    while (refSet.size < o.n) refSet.add(Math.floor(this.rng.next() * 2 ** 48));
    this.refs = [...refSet];
    this.refs.forEach((r, i) => this.index.set(r, i));
    this.refutations = new Int32Array(o.n);
    this.beatBytes = new Float64Array(o.n);
    this.otherBytes = new Float64Array(o.n);
    this.beatsSent = new Float64Array(o.n);
    this.outboundLoss = new Float64Array(o.n);
    this.side = new Int32Array(o.n);
    this.crashed = new Uint8Array(o.n);
    this.keys = [];
    this.nodes = this.refs.map((ref, i) => {
      const signer = simReportSigner(o.seed, i, 0);
      this.keys.push(signer.publicKey);
      return liveness7Node({ self: ref, clusterId: 'compose7', incarnation: 0, signer, view: this.refs });
    });
    for (let x = 0; x < o.n; x++) this.events.push(this.rng.next() * ROUND_MS, () => this.tick(x));
  }

  /** Whether a packet from x can reach y now (the cut, a crash). */
  passes(x: number, y: number): boolean {
    if (this.crashed[x] || this.crashed[y]) return false;
    if (!this.cut || this.side[x] === this.side[y]) return true;
    return this.oneWay && this.side[x] === 1 && this.side[y] === 0;
  }

  crash(x: number): void {
    this.crashed[x] = 1;
  }

  /** Runs the network until `untilMs`. */
  run(untilMs: number): void {
    for (let at = this.events.peek(); at <= untilMs; at = this.events.peek()) {
      const e = this.events.pop()!;
      this.now = e.at;
      e.run();
    }
    this.now = untilMs;
  }

  /** Whether node x holds member f dead now. */
  holdsDead(x: number, f: number): boolean {
    return this.nodes[x]!.deadReason(this.refs[f]!) !== undefined;
  }

  private tick(x: number): void {
    if (this.crashed[x]) return;
    const node = this.nodes[x]!;
    this.sendAll(x, node.tick(this.now, STATE_HASH, this.rng));
    this.settle(x);
    this.events.push(this.now + ROUND_MS, () => this.tick(x));
  }

  private sendAll(x: number, out: readonly Outbound7[]): void {
    for (const o of out) this.send(x, this.index.get(o.to)!, encodeLivenessMessage(o.message));
  }

  /** One packet through the real codec's bytes: counted when sent, then lost, cut or delivered. */
  private send(x: number, y: number, body: Uint8Array): void {
    const bytes = body.length + ENVELOPE_HEADER_BYTES;
    const isBeat = body[0] === LIVENESS_TYPE_CODES.beat;
    if (isBeat) {
      this.beatBytes[x]! += bytes;
      this.beatsSent[x]!++;
    } else this.otherBytes[x]! += bytes;
    if (this.rng.next() < this.loss || this.rng.next() < this.outboundLoss[x]!) return;
    const latency = 0.5 + this.rng.next() * 4.5;
    this.events.push(this.now + latency, () => {
      if (!this.passes(x, y)) return;
      const m = decodeLivenessMessage(body);
      if (this.admits === null || this.admits(x, y, m.type)) this.deliver(x, y, m);
    });
  }

  private deliver(x: number, y: number, m: ReturnType<typeof decodeLivenessMessage>): void {
    const node = this.nodes[y]!;
    const from = this.refs[x]!;
    if (m.type === 'beat') node.onBeat(from, m, this.now);
    else if (m.type === 'censusPull') this.send(y, x, encodeLivenessMessage(node.onCensusPull(from, m, this.now)));
    else if (m.type === 'census') node.onCensus(from, m, this.now);
    else throw new Error(`unexpected ${m.type}`);
    this.settle(y);
  }

  /** After a node ran: its verdicts recorded, a refutation taken, and new state spread. */
  private settle(x: number): void {
    const node = this.nodes[x]!;
    const v = node.takeVerdicts(this.now);
    for (const c of v.convictions) {
      this.convictions.push({ at: this.now, node: x, subject: this.index.get(c.ref)!, reason: c.reason });
    }
    for (const r of v.revivals) this.revivals.push({ at: this.now, node: x, subject: this.index.get(r)! });
    const raised = node.shouldRefute(this.now);
    if (raised !== null) this.refutations[x]!++;
    const set = node.ownReportSet();
    if (raised !== null || set !== null) this.spread(x, node.ownIncarnation, set);
  }

  /** State transfer, modelled: every node x can exchange with learns it after its own `spreadMs` (0.5 to 1.5 s). */
  private spread(x: number, incarnation: number, set: ReportSet | null): void {
    const ref = this.refs[x]!;
    for (let y = 0; y < this.n; y++) {
      if (y === x || !this.passes(x, y) || !this.passes(y, x)) continue;
      const [least, most] = this.spreadMs;
      this.events.push(this.now + least + this.rng.next() * (most - least), () => {
        if (this.crashed[y] || (this.cut && this.side[x] !== this.side[y])) return;
        const node = this.nodes[y]!;
        if (set) node.acceptReportSet(ref, incarnation, this.keys[x], set, this.now);
        else node.noteIncarnation(ref, incarnation, this.now);
        this.settle(y);
      });
    }
  }
}

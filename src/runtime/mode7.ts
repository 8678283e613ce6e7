/**
 * Protocol 7's liveness in the runtime (ScuttlebuttConfig.liveness `{ protocol: 7 }`, docs/design/liveness-7.md):
 * a report signer per incarnation, the one timer that runs the gossip round and the detector (in mode 7 at the
 * instant the core says something is due, ScuttlebuttCore.nextDetectAt; in mode 6 every quarter interval), and the
 * TCP streams the core asks for when a peer's state differs from its own by more than a packet.
 *
 * A stream, as run here: the opener (this node, for a peer listed by takeStreamRequests) sends STREAM-HELLO, then
 * STREAM-END and half-closes; the other side answers with its whole state, one ACK7 of node deltas a frame (the
 * core's streamOut batches, each within the payload budget), then STREAM-END. The opener hands each batch to
 * streamIn as it arrives.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import { NO_CENSUS } from '../core/liveness7-parts.js';
import type { Liveness7Options } from '../core/types.js';
import { decodeAny, encodeAny, type WireMessage } from '../wire/any.js';
import { STREAM_HELLO_SUMS } from '../wire/liveness-sizes.js';
import type { NodeDelta7, StreamHelloMessage } from '../wire/liveness-messages.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from '../wire/codec.js';
import type { LivenessStats, Logger, ScuttlebuttConfig } from './api.js';
import { monotonicNow } from './clock.js';
import { parseHostPort } from './config.js';
import type { Packets } from './packets.js';
import { Ed25519ReportSigner } from './report-signer.js';
import { StreamClient, StreamServer, type StreamHandler, type StreamRefusal, type StreamSession } from './stream.js';

/** The core's liveness7 option for `config`: a fresh Ed25519 key pair per incarnation; undefined in protocol 6. */
export function liveness7Options(config: ScuttlebuttConfig): Liveness7Options | undefined {
  const l = config.liveness;
  if (l?.protocol !== 7) return undefined;
  return {
    signer: new Ed25519ReportSigner(),
    ...(l.observers !== undefined ? { observers: l.observers } : {}),
    ...(l.gateHoldMs !== undefined ? { gateHoldMs: l.gateHoldMs } : {}),
  };
}

/** stats().liveness of a node whose core is `core`. */
export function livenessStats(core: ScuttlebuttCore, now: number): LivenessStats {
  const s = core.livenessStatus(now);
  if (!s) {
    return {
      protocol: 6,
      mode: 6,
      notSpeaking: 0,
      notReady: 0,
      switches: 0,
      fallbacks: 0,
      refused: {},
      census: NO_CENSUS,
    };
  }
  return {
    protocol: 7,
    mode: s.mode,
    notSpeaking: s.gate.notSpeaking,
    notReady: s.gate.notReady,
    switches: s.switches,
    fallbacks: s.fallbacks,
    refused: s.drops,
    census: s.census,
  };
}

/** Detect runs this many times a gossip interval in mode 6 (the core's contract: every quarter interval). */
const DETECTS_PER_INTERVAL = 4;
/** A round due within this many ms runs now: a timer may fire a little before the monotonic clock's instant. */
const ROUND_SLACK_MS = 1;
/** A round that waits for the beats runs this long after they are due (a timer may fire a little early). */
const ALIGN_MS = 2;
/** The longest a leaving node stays to answer the requests its leave's news draws. */
const MAX_LINGER_MS = 1000;

export interface Mode7Components {
  readonly core: ScuttlebuttCore;
  readonly packets: Packets;
  readonly log: Logger;
  /** Runs the core's detect and sends what it returns. */
  readonly detect: () => void;
  /**
   * Runs a gossip round (the core's tick, which runs detect too). Called from the detector's timer rather than from
   * a timer of its own: each timer is a wake-up of an idle process. Same rounds, one wake-up a second fewer.
   */
  readonly round: () => void;
  /** After streamIn changed the core: events to listeners, news to peers. */
  readonly changed: () => void;
}

/** The mode-7 timers and streams of one node, created only when it runs protocol 7. */
export class Mode7Runtime {
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (monotonic ms; Infinity: none armed). */
  private armedAt = Infinity;
  private nextRoundAt: number;
  private lastDetectAt: number;
  private readonly intervalMs: number;
  private readonly server: StreamServer;
  private readonly client: StreamClient;
  private readonly clusterId: string;
  private readonly lingerMs: number;
  private closed = false;
  /** True while the timer's callback runs: the arm() calls its work makes wait for its end. */
  private waking = false;
  /** After a leave: packets are still answered for a moment (see linger). */
  lingering = false;
  /** What the timer did when it fired: a round, a detect, or nothing (it was early, or what was due moved on). */
  readonly wakes = { rounds: 0, detects: 0, idle: 0 };

  constructor(
    private readonly c: Mode7Components,
    init: { readonly config: ScuttlebuttConfig; readonly udpAddress: string },
  ) {
    this.clusterId = init.config.clusterId;
    this.lingerMs = Math.min(init.config.gossipIntervalMs, MAX_LINGER_MS);
    this.intervalMs = init.config.gossipIntervalMs;
    const now = monotonicNow();
    this.lastDetectAt = now;
    this.nextRoundAt = now + this.intervalMs;
    this.arm(now);
    const options = {
      envelope: () => c.packets.envelopeOptions,
      // A frame holds at least one node delta: the whole state, the hello and the end fit.
      limits: { maxFrames: init.config.maxMembers + 2 },
      udpWindows: c.packets.udpWindows,
      onRefuse: (reason: StreamRefusal, peer: string) => {
        // Counted beside the dropped packets (stats().dropped).
        c.packets.dropped[reason] = (c.packets.dropped[reason] ?? 0) + 1;
        c.log.debug({ peer, reason }, 'stream refused or cut');
      },
    };
    this.server = new StreamServer({ ...options, admit: (host) => this.admits(host), accept: (s) => this.serve(s) });
    // Outbound from the gossip host, so the peer's admit sees the address its UDP answered (a wildcard: any).
    const host = parseHostPort(init.udpAddress)?.host;
    const bound = host && host !== '0.0.0.0' && host !== '::' ? { localHost: host } : {};
    this.client = new StreamClient({ ...options, ...bound });
  }

  /** Listens for streams on TCP at the gossip socket's host and port; rejects with BindError. */
  listen(host: string, port: number): Promise<string> {
    return this.server.listen(host, port);
  }

  /**
   * After anything changed the core: opens a stream to each peer it asked for, and moves the timer sooner if
   * something is due before it fires (a packet may start a census, or bring a record to judge).
   */
  changedCore(): void {
    for (const peer of this.c.core.takeStreamRequests()) this.pull(peer);
    this.arm(monotonicNow());
  }

  /** Stops the timer and the streams (before a leave, so no beat follows it). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.client.close();
    await this.server.close();
  }

  /**
   * After a leave (`left`), keeps answering packets for up to a gossip interval (MAX_LINGER_MS at most): the leave
   * goes out as news, a hot digest, and its node delta with the leave secret travels only in the ACK7 that answers
   * each peer's request, so a node that closed at once would be convicted as crashed instead.
   */
  async linger(left: boolean): Promise<void> {
    if (!left) return;
    this.lingering = true;
    await new Promise((resolve) => setTimeout(resolve, this.lingerMs));
    this.lingering = false;
  }

  /** When detect is next due: the core's instant in mode 7, a quarter interval after the last one in mode 6. */
  private detectDueAt(now: number): number {
    const at = this.c.core.nextDetectAt(now);
    return Number.isNaN(at) ? this.lastDetectAt + this.intervalMs / DETECTS_PER_INTERVAL : at;
  }

  /** Sets the timer for the round or the next detect, whichever comes first, unless it is armed sooner already. */
  private arm(now: number): void {
    if (this.closed || this.waking) return;
    // +1 ms: a verdict changes just after a deadline (now > deadline), and a timer may fire a little early.
    const at = Math.min(this.nextRoundAt, this.detectDueAt(now) + 1);
    if (at >= this.armedAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(() => this.wake(), Math.max(1, Math.ceil(at - now)));
  }

  private wake(): void {
    this.timer = null;
    this.armedAt = Infinity;
    if (this.closed) return;
    const now = monotonicNow();
    if (now >= this.nextRoundAt - ROUND_SLACK_MS) {
      // The core's tick runs detect itself. Alone, the round's targets are a seed, which gets a pulling SYN7 and
      // protocol 6's SYN (the core sends it to every target that is no live member, so a seed that hears only
      // protocol 6 is reached too). Nothing more goes to the seeds: every lone joiner's extra SYN is answered and
      // the answer acknowledged, and when many join at once the seed's socket queue then grows faster than it
      // drains, holding every answer back for seconds.
      // After a stall, the rounds go on from now rather than catching up.
      const next = this.nextRoundAt + this.intervalMs;
      this.nextRoundAt = next > now ? next : now + this.intervalMs;
      this.lastDetectAt = now;
      this.wakes.rounds++;
      this.waking = true;
      this.c.round();
      this.alignRound();
    } else if (now >= this.detectDueAt(now)) {
      this.lastDetectAt = now;
      this.wakes.detects++;
      this.waking = true;
      this.c.detect();
      this.alignRound();
    } else {
      this.wakes.idle++;
    }
    this.waking = false;
    this.arm(monotonicNow());
  }

  /**
   * In mode 7 the beats go out at the tick that finds them due, a round after the last ones, in a phase of their own.
   * When nothing but them is due for over half a round (an idle node), the next round moves to their instant, so
   * that one wake-up does both rather than two: once, by less than a round; then the rounds follow the beats, later
   * by about ALIGN_MS a round.
   */
  private alignRound(): void {
    const now = monotonicNow();
    const due = this.c.core.nextDetectAt(now);
    if (due > now + this.intervalMs / 2 && due <= now + this.intervalMs * 1.5) this.nextRoundAt = due + ALIGN_MS;
  }

  /** A member's host (or a seed's) may stream to this node; a stranger waits until the core admitted it. */
  private admits(host: string): boolean {
    const snap = this.c.core.snapshot();
    const known = (address: string): boolean => parseHostPort(address)?.host === host;
    return snap.live.some((v) => known(v.node.address)) || snap.dead.some((v) => known(v.node.address));
  }

  private pull(peer: string): void {
    if (this.closed) return;
    const handler: StreamHandler = {
      body: (body, version) => {
        const m = decode(body, version);
        if (m?.type === 'ack7' && m.clusterId === this.clusterId) {
          this.c.core.streamIn(m.nodes, peer, monotonicNow());
          this.c.changed();
        } else if (m?.type !== 'streamEnd') throw new Error(`unexpected ${m?.type ?? 'undecodable'} frame`);
      },
    };
    this.client.connect(peer, handler).then(
      (session) => {
        // The core shows the runtime no leaf sums: zero sums ask the other side for everything.
        const hello: StreamHelloMessage = {
          type: 'streamHello',
          clusterId: this.clusterId,
          sender: 0,
          stateHash: 0,
          sums: NO_SUMS,
        };
        if (session.send(encodeAny(hello, PROTOCOL_VERSION))) {
          session.send(encodeAny({ type: 'streamEnd', frames: 1, stateHash: 0 }, PROTOCOL_VERSION));
          session.end();
        }
      },
      (err: unknown) => this.c.log.debug({ peer, err: (err as Error).message }, 'stream not opened'),
    );
  }

  private serve(session: StreamSession): StreamHandler {
    let helloSeen = false;
    return {
      body: (body, version) => {
        const m = decode(body, version);
        if (!helloSeen) {
          if (m?.type !== 'streamHello' || m.clusterId !== this.clusterId) throw new Error('no hello of this cluster');
          helloSeen = true;
          // Taken now, in one turn: the core's state may change while the batches drain.
          void this.answer(session, [...this.c.core.streamOut()]);
        } else if (m?.type !== 'streamEnd') throw new Error(`unexpected ${m?.type ?? 'undecodable'} frame`);
      },
    };
  }

  private async answer(session: StreamSession, batches: readonly NodeDelta7[][]): Promise<void> {
    try {
      for (const nodes of batches) {
        if (!session.send(encodeAny({ type: 'ack7', clusterId: this.clusterId, nodes }, PROTOCOL_VERSION))) return;
        await session.drained();
      }
      if (session.send(encodeAny({ type: 'streamEnd', frames: batches.length, stateHash: 0 }, PROTOCOL_VERSION)))
        session.end();
    } catch (err) {
      session.close();
      this.c.log.warn({ peer: session.peer, err: (err as Error).message }, 'stream answer failed');
    }
  }
}

const NO_SUMS: readonly number[] = new Array<number>(STREAM_HELLO_SUMS).fill(0);

function decode(body: Uint8Array, version: ProtocolVersion): WireMessage | null {
  try {
    return decodeAny(body, version);
  } catch {
    return null;
  }
}

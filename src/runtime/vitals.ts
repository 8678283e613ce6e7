/**
 * The node's signs of life as its operator sees them: when it last ran a gossip round and last heard
 * a packet, when its own process was last stalled, and whether its writes are held back by flow
 * control; health() is assessed from these. Also the warning, at start, that a node gossips in plaintext.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { Health, Logger, ScuttlebuttConfig } from './api.js';
import { isLoopbackHost, parseHostPort } from './config.js';
import { publish as diag, type DiagnosticsNode } from './diagnostics.js';
import { assessHealth } from './health.js';
import type { SeedWatch } from './seed-watch.js';
import { monotonicNow } from './clock.js';

export interface VitalsComponents {
  readonly core: ScuttlebuttCore;
  readonly seedWatch: SeedWatch;
  readonly log: Logger;
  /** The node, as diagnostics messages name it. */
  readonly node: DiagnosticsNode;
  /** Emit the node's 'throttled' and 'unthrottled' events. */
  readonly emitThrottled: (info: { rate: number; backlog: number }) => void;
  readonly emitUnthrottled: (info: { rate: number }) => void;
  /** A 'throttled' or 'unthrottled' listener threw (it is logged here; the node counts it). */
  readonly onListenerError: () => void;
}

export interface VitalsInit {
  readonly intervalMs: number;
}

export class Vitals {
  private throttled = false;
  private lastRoundAt = monotonicNow();
  private lastPacketAt: number | null = null;
  /** The core's localStalls at the last look, and when one was last noticed. */
  private stallsSeen = 0;
  private lastStallAt = -Infinity;

  constructor(
    private readonly c: VitalsComponents,
    private readonly init: VitalsInit,
  ) {}

  roundStarted(now: number): void {
    this.lastRoundAt = now;
  }

  packetHeard(now: number): void {
    this.lastPacketAt = now;
  }

  noteStalls(now: number): void {
    const stalls = this.c.core.localStalls;
    if (stalls !== this.stallsSeen) {
      this.stallsSeen = stalls;
      this.lastStallAt = now;
      diag.stall(this.c.node, stalls);
    }
  }

  /**
   * throttled when a write first waits; unthrottled once a round finds nothing waiting (so at most one pair a round).
   */
  noteThrottle(after: 'write' | 'round'): void {
    const flow = this.c.core.flowStats(monotonicNow());
    if (!flow) return;
    const next = flow.backlog > 0;
    if (next === this.throttled || (!next && after !== 'round')) return;
    this.throttled = next;
    diag.throttle(this.c.node, next, flow.rate, flow.backlog);
    setImmediate(() => {
      try {
        if (next) this.c.emitThrottled({ rate: flow.rate, backlog: flow.backlog });
        else this.c.emitUnthrottled({ rate: flow.rate });
      } catch (err) {
        this.c.onListenerError();
        this.c.log.warn(
          { event: next ? 'throttled' : 'unthrottled', err: (err as Error).message },
          'an event listener threw',
        );
      }
    });
  }

  health(closing: boolean): Health {
    const now = monotonicNow();
    this.noteStalls(now);
    const { core, seedWatch } = this.c;
    return assessHealth({
      now,
      intervalMs: this.init.intervalMs,
      lastRoundAt: this.lastRoundAt,
      lastPacketAt: this.lastPacketAt,
      lastStallAt: this.lastStallAt,
      liveMembers: core.liveCount,
      localStalls: core.localStalls,
      closing,
      seeds: seedWatch.seeds,
      aloneByConfiguration: () => seedWatch.onlySelf(),
    });
  }
}

let plaintextWarned = false;

/** Warns when the node gossips without secretKeys on an address beyond loopback. */
export function warnIfPlaintext(config: ScuttlebuttConfig, log: Logger): void {
  const host = parseHostPort(config.listenAddress)?.host ?? '';
  if ((config.secretKeys ?? []).length > 0 || isLoopbackHost(host)) return;
  const msg =
    `gossiping in plaintext on ${config.listenAddress}, beyond loopback: ` +
    'anyone who can reach this port can read the membership and forge state; set secretKeys';
  log.warn({ listen: config.listenAddress }, msg);
  // Without a logger the warning would be lost: Node's own warning channel, once per process.
  if (!config.logger && !plaintextWarned) {
    plaintextWarned = true;
    process.emitWarning(msg, { code: 'SCUTTLEBUTT_PLAINTEXT' });
  }
}

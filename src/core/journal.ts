/**
 * What the core has to tell its harness between calls: membership events, counts of refused input,
 * and whether something new arrived that is worth spreading before the next round. Every module
 * that changes what the cluster should hear about writes here; the coordinator drains it.
 */
import { REJECT_REASONS, type CoreEvent, type NodeView, type RejectReason } from './types.js';

export class Journal {
  private events: CoreEvent[] = [];
  private readonly rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  /**
   * A member or a key arrived (or came back) since the last round: an early round would spread it.
   * A conviction or a removal is not news: every observer reaches it on its own.
   */
  news = false;
  /**
   * Hears each event's type and member slot as it is emitted: protocol 7's gate and mode 7 follow the membership
   * through it (liveness-switch.ts). Null: nobody.
   */
  listener: ((type: CoreEvent['type'], slot: number) => void) | null = null;
  /** When given (CoreConfig.eventViews), each event carries its member's view as of the event. */
  private readonly viewOf: ((slot: number) => NodeView) | null;

  /**
   * `viewOf` is called at each emit, so it may read modules built after the journal: nothing emits
   * while the core is being built.
   */
  constructor(init: { readonly viewOf?: ((slot: number) => NodeView) | null } = {}) {
    this.viewOf = init.viewOf ?? null;
  }

  /** Records an event about the member in `slot`. */
  emit(event: CoreEvent, slot: number): void {
    if (event.type === 'live' || event.type === 'update') this.news = true;
    this.listener?.(event.type, slot);
    this.events.push(this.viewOf ? { ...event, view: this.viewOf(slot) } : event);
  }

  reject(reason: RejectReason): void {
    this.rejected[reason]++;
  }

  take(): CoreEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  rejections(): Readonly<Record<RejectReason, number>> {
    return { ...this.rejected };
  }
}

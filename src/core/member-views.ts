/**
 * What this node shows of a member (NodeView: identity, status, values), and what its detectors show of it,
 * whichever liveness runs: NodeView's `detector` and `silence` (the dashboard's deadline column), phi for
 * diagnostics, and when the member was last heard (the silence that convicted it). In mode 6, protocol 6's failure
 * detector, which hears every member's heartbeats. In mode 7, the neighbour detector, which times only this node's
 * neighbours' beats: a member it does not watch shows neither a period nor a silence here, since its liveness here
 * rests on its own neighbours' reports.
 */
import type { FailureDetector } from './detector.js';
import { SELF, type Membership } from './membership.js';
import type { Mode7 } from './mode7.js';
import type { OwnValues } from './own-values.js';
import { LIVE } from './peer-table.js';
import { isReservedKey } from './reserved-keys.js';
import type { MemberWatch, NodeView } from './types.js';

export interface MemberViewsComponents {
  readonly membership: Membership;
  readonly own: OwnValues;
  readonly detector: FailureDetector;
  /** Mode 7's sub-coordinator while this node runs it; else null. */
  readonly mode7: () => Mode7 | null;
}

export class MemberViews {
  private readonly membership: Membership;
  private readonly own: OwnValues;
  private readonly detector: FailureDetector;
  private readonly mode7: () => Mode7 | null;

  constructor(components: MemberViewsComponents) {
    ({ membership: this.membership, own: this.own, detector: this.detector, mode7: this.mode7 } = components);
  }

  /** Slot s's view; given `now` (for a live member), with its silence. */
  node(s: number, now?: number): NodeView {
    const t = this.membership.table;
    let values: Record<string, string> = {};
    const map = t.values.get(s);
    // Our own view shows writes flow control still holds: it delays only what gossips.
    if (s === SELF) {
      values = this.own.view();
      for (const key of Object.keys(values)) if (isReservedKey(key)) delete values[key];
    } else if (map) for (const [key, v] of map) if (!v.tombstone && !isReservedKey(key)) values[key] = v.value;
    return {
      node: this.membership.identity(s),
      status: t.status[s] === LIVE ? 'live' : 'dead',
      heartbeat: t.heartbeat(s),
      maxVersion: t.maxVersion(s),
      values,
      ...(s === SELF ? {} : this.watch(s, now)),
    };
  }

  /** Slot s's detector view and, given `now` (a live member), its silence. */
  private watch(s: number, now: number | undefined): MemberWatch {
    const seven = this.mode7();
    if (seven) return seven.watched(s, now) ?? {};
    const detector = this.detector.view(s);
    return now === undefined ? { detector } : { detector, silence: this.detector.silenceView(s, now) };
  }

  /** Slot s's phi now; undefined in mode 7 for a member this node does not watch. */
  phi(s: number, now: number): number | undefined {
    const seven = this.mode7();
    return seven ? seven.watched(s, now)?.silence?.phi : this.detector.phiOf(s, now);
  }

  /**
   * Live slot s's silence now and the silence at which it is convicted (in mode 7: reported; a quorum of its
   * neighbours' reports convicts it); undefined in mode 7 for a member this node does not watch.
   */
  silence(s: number, now: number): { silentForMs: number; convictAfterMs: number } | undefined {
    const seven = this.mode7();
    if (!seven) return this.detector.silence(s, now);
    const v = seven.watched(s, now)?.silence;
    return v && { silentForMs: v.silentForMs, convictAfterMs: v.convictAfterMs };
  }

  /**
   * When this node last heard of slot s: its newest heartbeat's birth, or in mode 7 its newest beat's arrival
   * (undefined for a member that is not, or was not lately, a neighbour here).
   */
  lastHeardAt(s: number): number | undefined {
    const seven = this.mode7();
    return seven ? seven.lastBeatAt(s) : this.membership.table.birth(s);
  }
}

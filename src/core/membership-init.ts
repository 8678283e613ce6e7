/**
 * What a Membership (membership.ts) is built from: its collaborators and its settings.
 */
import type { NodeIdentity } from '../wire/messages.js';
import type { Journal } from './journal.js';

/** How many members may be held, and how fast one sender may add to them. */
export interface AdmissionLimits {
  readonly maxMembers: number;
  readonly maxNewPerSender: number;
  readonly intervalMs: number;
}

export const NO_LIMITS: AdmissionLimits = { maxMembers: Infinity, maxNewPerSender: Infinity, intervalMs: 1000 };

export interface MembershipComponents {
  readonly journal: Journal;
  /** Asked on each revival by heartbeat (default: always yes): the liveness running decides (LivenessSwitch). */
  readonly revivesOnHeartbeat?: () => boolean;
}

export interface MembershipInit {
  readonly self: NodeIdentity;
  /** How long a dead member stays before it is removed, in ms. */
  readonly graceMs: number;
  /** Heartbeat intervals kept per member (PeerTable's window). */
  readonly window: number;
  /** Members expected: tables are sized for them once instead of grown. */
  readonly expected: number;
  /** Default: no limit. */
  readonly limits?: AdmissionLimits;
}

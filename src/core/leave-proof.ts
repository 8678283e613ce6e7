/**
 * A leave only the leaver can say (docs/security.md). Each incarnation holds a secret and gossips
 * its commitment, the first COMMITMENT_BYTES of its hash, with its identity; its own leave message
 * reveals the secret. A receiver holding the commitment can then tell the leaver's leave from one
 * anybody else made up, though every byte of gossip is public in plaintext mode: finding another
 * secret with the same 128-bit commitment is a second preimage of SHA-256.
 *
 * Pure: the harness injects the secret and the hash (CoreConfig.leaveSecret, CoreConfig.hash).
 */
import { COMMITMENT_BYTES } from '../wire/messages.js';

/** SHA-256 of its input (the runtime passes node:crypto's; the core imports no built-in). */
export type Hash = (data: Uint8Array) => Uint8Array;

/**
 * What a leave message proves about its member, to a receiver that holds `commitment` for it:
 * - 'proven': its proof opens the commitment; only the member could have sent it.
 * - 'forged': it carries a proof that does not open the commitment (or one this node cannot check).
 * - 'unproven': it carries none: sent on the member's behalf (an operator's force-leave), or by an
 *   older release, or by anybody.
 * - 'uncommitted': the receiver holds no commitment for the member (an older release made none, or
 *   it was learned through one): nothing can be checked.
 */
export type LeaveVerdict = 'proven' | 'forged' | 'unproven' | 'uncommitted';

export class LeaveProofs {
  /** This incarnation's commitment, null when the harness gave no secret or no hash. */
  readonly commitment: Uint8Array | null;

  constructor(
    /** The secret this node's own leave reveals. */
    readonly secret: Uint8Array | null,
    private readonly hash: Hash | null,
  ) {
    this.commitment = secret && hash ? commit(secret, hash) : null;
  }

  /** What a leave carrying `proof` proves about a member for which we hold `commitment`. */
  judge(commitment: Uint8Array | null, proof: Uint8Array | undefined): LeaveVerdict {
    if (!commitment) return 'uncommitted';
    if (!proof) return 'unproven';
    return this.hash && sameBytes(commit(proof, this.hash), commitment) ? 'proven' : 'forged';
  }
}

/** The commitment to `secret`: its hash, truncated. */
export function commit(secret: Uint8Array, hash: Hash): Uint8Array {
  return hash(secret).slice(0, COMMITMENT_BYTES);
}

/** Commitments are public, so a comparison that stops at the first difference leaks nothing. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

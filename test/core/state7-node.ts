/**
 * A protocol-7 state node for tests: a real Membership, OwnValues, LeaveProofs, State7 and Deltas7, with a
 * stand-in for the ReportBook (a set is accepted when its signature is the keyed tag below), its Exchange7, and a
 * three-way exchange (SYN7 -> SYN-ACK7 -> ACK7) between two nodes over the real protocol-7 codec.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Deltas7, type ReportSets } from '../../src/core/delta7.js';
import { compareDigest7, EMPTY_DIGEST7 } from '../../src/core/digest7.js';
import { Exchange7, type Exchange7Message, type Outbound7Any } from '../../src/core/exchange7.js';
import { Journal } from '../../src/core/journal.js';
import { LeaveProofs } from '../../src/core/leave-proof.js';
import { Membership, SELF, type AdmissionLimits } from '../../src/core/membership.js';
import { OwnValues } from '../../src/core/own-values.js';
import { FREE } from '../../src/core/peer-table.js';
import { seededRandom } from '../../src/core/random.js';
import { State7 } from '../../src/core/state7.js';
import { decodeLivenessMessage, encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import type { LivenessMessage, NodeDelta7, ReportSet } from '../../src/wire/liveness-messages.js';
import { REPORT_KEY_BYTES, REPORT_SIGNATURE_BYTES } from '../../src/wire/liveness-messages.js';
import { LEAVE_SECRET_BYTES, type NodeIdentity } from '../../src/wire/messages.js';

export const CLUSTER = 'test7';

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function identityOf(i: number, generation = 1): NodeIdentity {
  return { id: `n${i}`, generation, address: `10.0.${i >> 8}.${i & 255}:7946` };
}

/** Node i's report-signing key: distinct per node, never small-order (not checked here anyway). */
export function keyOf(i: number): Uint8Array {
  return new Uint8Array(REPORT_KEY_BYTES).fill((i * 7 + 1) & 255);
}

export function secretOf(i: number): Uint8Array {
  return new Uint8Array(LEAVE_SECRET_BYTES).fill((i * 13 + 5) & 255);
}

/** The stand-in signature of a set: a tag of the key and the version (what the fake book checks). */
export function fakeSignature(key: Uint8Array, version: number): Uint8Array {
  return new Uint8Array(REPORT_SIGNATURE_BYTES).fill(((key[0] as number) + version) & 255);
}

/** A ReportSets over a map: accepts a set whose signature is fakeSignature(key, version), keeps the newest. */
export class FakeReports implements ReportSets {
  readonly sets = new Map<number, ReportSet>();
  readonly claims: number[] = [];
  accepted = 0;
  refused = 0;

  setOf(ref: number): ReportSet | undefined {
    return this.sets.get(ref);
  }

  accept(observerRef: number, _incarnation: number, publicKey: Uint8Array | undefined, set: ReportSet): boolean {
    const want = publicKey ? fakeSignature(publicKey, set.version) : null;
    if (!want || !set.signature.every((b, i) => b === want[i])) {
      this.refused++;
      return false;
    }
    this.sets.set(observerRef, set);
    this.accepted++;
    return true;
  }

  claimedAboutSelf(claimed: number): void {
    this.claims.push(claimed);
  }
}

export class Node7 {
  readonly journal = new Journal();
  readonly membership: Membership;
  readonly own: OwnValues;
  readonly state: State7;
  readonly deltas: Deltas7;
  readonly reports = new FakeReports();
  readonly proofs: LeaveProofs;
  /** Exchange7 by payload budget (one per budget a test uses; each is stateless but for beats and streams). */
  private readonly exchanges = new Map<number, Exchange7>();

  constructor(
    readonly index: number,
    options: { readonly limits?: AdmissionLimits; readonly graceMs?: number } = {},
  ) {
    const self = identityOf(index);
    this.membership = new Membership(
      { journal: this.journal },
      {
        self,
        graceMs: options.graceMs ?? 60_000,
        window: 8,
        expected: 16,
        ...(options.limits ? { limits: options.limits } : {}),
      },
    );
    this.own = new OwnValues(
      { table: this.membership.table, journal: this.journal },
      { self, clusterId: CLUSTER, payloadBudget: 60_000, tombstoneGracePeriodMs: 1000 },
    );
    this.proofs = new LeaveProofs(secretOf(index), sha256);
    this.membership.noteCommitment(SELF, this.proofs.commitment);
    this.state = new State7(this.membership, { ownPublicKey: keyOf(index) });
    this.membership.table.setIncarnation(SELF, 1);
    this.deltas = new Deltas7({
      state: this.state,
      journal: this.journal,
      own: this.own,
      proofs: this.proofs,
      reports: this.reports,
    });
  }

  get address(): string {
    return this.membership.self.address;
  }

  /** This node's Exchange7 with the given payload budget. */
  exchange7(payloadBudget = 60_000, quietMs = 1000): Exchange7 {
    let x = this.exchanges.get(payloadBudget);
    if (!x) {
      x = new Exchange7(
        {
          membership: this.membership,
          state: this.state,
          deltas: this.deltas,
          journal: this.journal,
          rng: seededRandom(this.index),
          own: this.own,
        },
        { clusterId: CLUSTER, payloadBudget, quietMs },
      );
      this.exchanges.set(payloadBudget, x);
    }
    return x;
  }

  get ref(): number {
    return this.membership.table.ref(SELF);
  }

  /** Raises our incarnation by one (a refutation). */
  bumpIncarnation(): void {
    const t = this.membership.table;
    t.setIncarnation(SELF, t.incarnation(SELF) + 1);
  }

  /** Publishes a new own report set (no records: its version is what the state carries). */
  publishReports(): void {
    const t = this.membership.table;
    const version = t.reportVersion(SELF) + 1;
    const set: ReportSet = {
      version,
      censusEpoch: 0,
      records: [],
      signature: fakeSignature(keyOf(this.index), version),
    };
    this.reports.sets.set(this.ref, set);
    t.setReportVersion(SELF, version);
  }

  /** Leaves: the secret goes into our state and the incarnation rises, so digests show the leave. */
  leave(): void {
    this.state.noteLeaveSecret(SELF, secretOf(this.index));
    this.membership.table.setLeft(SELF, 1);
    this.bumpIncarnation();
  }

  /** Every slot in use. */
  slots(): number[] {
    const t = this.membership.table;
    const out: number[] = [];
    for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE) out.push(s);
    return out;
  }

  /** Asserts the kept hash (H, every sum, every count) equals a recomputation from the table. */
  assertHashInStep(): void {
    const kept = this.state.stateHash;
    const again = this.state.recomputed();
    assert.equal(kept.hash, again.hash, `node ${this.index}: H`);
    assert.equal(kept.size, again.size, `node ${this.index}: size`);
    assert.deepEqual(kept.level1Sums(), again.level1Sums(), `node ${this.index}: level-1 sums`);
    assert.deepEqual(kept.leafSumsOf(0xffff), again.leafSumsOf(0xffff), `node ${this.index}: leaf sums`);
  }
}

/** A message through the real codec. */
function wire<M extends LivenessMessage>(m: M): M {
  return decodeLivenessMessage(encodeLivenessMessage(m)) as M;
}

/** An outbound message of Exchange7 as its receiver decodes it: a protocol-7 exchange message, through the codec. */
export function overWire(out: Outbound7Any): Exchange7Message {
  const m = out.message;
  assert.ok(
    m.type === 'sums' || m.type === 'syn7' || m.type === 'synAck7' || m.type === 'ack7',
    `an exchange message, not ${m.type}`,
  );
  return wire(m);
}

/** What one exchange carried. */
export interface ExchangeTrace {
  readonly synEntries: number;
  readonly requested: number;
  readonly synAckNodes: number;
  readonly ackNodes: number;
}

/**
 * One three-way exchange initiated by `a` with `b` through their Exchange7s, every message through the codec: a's
 * SYN7 listing every member (complete when it fits), b's SYN-ACK7 (request + the deltas a lacks), a's ACK7.
 * `budget`: the payload budget of each message; `start`: a's members are listed from this index on (wrapping), so
 * that digests cut by a small budget cover every member in turn.
 */
export function exchange(a: Node7, b: Node7, now: number, budget = 60_000, start = 0): ExchangeTrace {
  const xa = a.exchange7(budget);
  const xb = b.exchange7(budget);
  const syn = overWire(xa.synAll(b.address, start));
  assert.equal(syn.type, 'syn7');
  const [synAck] = xb.receive(a.address, syn, now).map(overWire);
  if (synAck?.type !== 'synAck7') {
    return { synEntries: syn.type === 'syn7' ? syn.digest.count : 0, requested: 0, synAckNodes: 0, ackNodes: 0 };
  }
  // Beside the ACK7, a SYN-ACK7 may draw a catch-up pull (catch-up.ts), as an ACK7 cut by the budget may: this traces
  // the first three-way exchange alone, so a pull goes unsent, and anything else in answer to an ACK7 fails.
  const ack = xa
    .receive(b.address, synAck, now)
    .map(overWire)
    .find((m) => m.type === 'ack7');
  const pulls = ack ? xb.receive(a.address, ack, now).map((o) => o.message.type) : [];
  assert.ok(
    pulls.every((t) => t === 'syn7' || t === 'sums'),
    `an ACK7 is answered by a catch-up pull at most: ${pulls.join()}`,
  );
  return {
    synEntries: syn.type === 'syn7' ? syn.digest.count : 0,
    requested: synAck.request.count,
    synAckNodes: synAck.nodes.length,
    ackNodes: ack?.type === 'ack7' ? ack.nodes.length : 0,
  };
}

/** The nodes' own deltas (everything a node holds about itself) as an owner would send them. */
export function introductions(n: Node7): NodeDelta7[] {
  const found = compareDigest7(n.membership, { ...EMPTY_DIGEST7, complete: true }, n.membership.nextEpoch());
  return n.deltas.pack(found.send, 1 << 20);
}

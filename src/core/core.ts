// STUB: being implemented. Signatures are the contract.
import type { Message, NodeIdentity } from '../wire/messages.js';
import type { ClusterSnapshot, CoreConfig, CoreEvent, Outbound, Random, RejectReason } from './types.js';

export class ScuttlebuttCore {
  readonly self: NodeIdentity;
  constructor(config: CoreConfig, _rng: Random, _now: number, _initialValues: Readonly<Record<string, string>> = {}) {
    this.self = config.self;
    throw new Error('not implemented');
  }
  /** One gossip round: bump own heartbeat, run the failure detector, open exchanges with peers. */
  tick(_now: number): Outbound[] { throw new Error('not implemented'); }
  /** Handle one decoded message from `from` ("host:port"); returns the replies. */
  receive(_from: string, _message: Message, _now: number): Outbound[] { throw new Error('not implemented'); }
  set(_key: string, _value: string, _now: number): void { throw new Error('not implemented'); }
  setWithTtl(_key: string, _value: string, _ttlMs: number, _now: number): void { throw new Error('not implemented'); }
  delete(_key: string, _now: number): void { throw new Error('not implemented'); }
  get(_key: string): string | undefined { throw new Error('not implemented'); }
  /** Graceful leave: messages telling every known live peer this node is gone. */
  leave(_now: number): Outbound[] { throw new Error('not implemented'); }
  /** Seed addresses ("ip:port"), already resolved by the harness. */
  setSeeds(_addresses: readonly string[]): void { throw new Error('not implemented'); }
  /** Events produced since the last call, in order. */
  takeEvents(): CoreEvent[] { throw new Error('not implemented'); }
  snapshot(): ClusterSnapshot { throw new Error('not implemented'); }
  /** Counted rejections of incoming state, by reason. */
  rejections(): Readonly<Record<RejectReason, number>> { throw new Error('not implemented'); }
}

/** A ScuttlebuttCore for hand-driven protocol-7 tests: node i at 10.0.0.(i+1):7946, the simulator's defaults. */
import { createHash } from 'node:crypto';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { seededRandom } from '../../src/core/random.js';
import type { CoreConfig } from '../../src/core/types.js';
import { benchOptions, simConfig } from '../../src/sim/options.js';
import { simReportSigner } from '../../src/sim/report-signer.js';

export const INTERVAL = 1000;
const sha256 = (data: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(data).digest());

export const address7 = (i: number): string => `10.0.0.${i + 1}:7946`;

/** `gateHoldMs` null: a node configured for protocol 6 (no liveness7). */
export function core7(
  i: number,
  now: number,
  clusterId: string,
  gateHoldMs: number | null,
  seed: number,
): ScuttlebuttCore {
  const c = simConfig(benchOptions({ nodes: 2, seed: 1 }), 1);
  const config: CoreConfig = {
    clusterId,
    self: { id: `node-${i}`, generation: 1, address: address7(i) },
    fanout: c.fanout,
    gossipIntervalMs: INTERVAL,
    failureDetector: c.failureDetector,
    payloadBudget: 1300,
    tombstoneGracePeriodMs: c.tombstoneGracePeriodMs,
    hash: sha256,
    ...(gateHoldMs === null ? {} : { liveness7: { gateHoldMs, signer: simReportSigner(1, i, 1) } }),
  };
  return new ScuttlebuttCore(config, seededRandom(seed + i), now);
}

/**
 * Real library nodes on loopback for the hostile-peer suite: each a Scuttlebutt with its own UDP
 * socket, in this process so a test can read state() and stats() directly. Fast rounds (100 ms)
 * and a short grace period keep conviction and removal within a few seconds.
 */
import { randomBytes } from 'node:crypto';
import { createScuttlebutt, type Scuttlebutt } from '../../src/index.js';
import type { ConfigOverrides } from '../../src/runtime/config.js';
import { waitFor } from '../runtime/procs.js';

export const INTERVAL_MS = 100;
export const GRACE_MS = 1500;
export const CLUSTER = 'adversary';

export interface Mode {
  readonly name: 'plaintext' | 'keyring';
  readonly keys: readonly Uint8Array[];
}

/** Both modes; in keyring mode the hostile peer is a key holder unless a test says otherwise. */
export const MODES: readonly Mode[] = [
  { name: 'plaintext', keys: [] },
  { name: 'keyring', keys: [randomBytes(32)] },
];

/** n nodes that know each other, each on a loopback port that was free a moment before. */
export async function startCluster(n: number, mode: Mode, extra: ConfigOverrides = {}): Promise<Scuttlebutt[]> {
  const nodes: Scuttlebutt[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const port = await freeUdpPort();
      nodes.push(
        await createScuttlebutt(
          {
            clusterId: CLUSTER,
            node: { id: `n${i}`, gossipPublicAddress: `127.0.0.1:${port}` },
            listenAddress: `127.0.0.1:${port}`,
            gossipIntervalMs: INTERVAL_MS,
            secretKeys: mode.keys,
            failureDetector: {
              phiThreshold: 8,
              acceptableHeartbeatPauseMs: 300,
              minStdDeviationMs: 50,
              firstHeartbeatEstimateMs: INTERVAL_MS,
              samplingWindowSize: 100,
              deadNodeGracePeriodMs: GRACE_MS,
            },
            tombstoneGracePeriodMs: GRACE_MS,
            ...extra,
          },
          { idx: String(i) },
        ),
      );
    }
    const seed = nodes[0]!.self.address;
    await Promise.all(nodes.slice(1).map((node) => node.join([seed])));
    await waitFor(() => nodes.every((node) => node.state().live.length === n), 10_000, `all ${n} nodes see all`);
    return nodes;
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }
}

export async function stopAll(nodes: readonly Scuttlebutt[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.shutdown()));
}

/** A UDP port free right now on loopback (bound, read, released). */
async function freeUdpPort(): Promise<number> {
  const { bindUdp } = await import('../../src/transport/udp.js');
  const udp = await bindUdp('127.0.0.1', 0);
  const port = Number(udp.address.split(':').pop());
  await udp.close();
  return port;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const isLive = (node: Scuttlebutt, id: string, generation?: number): boolean =>
  node.state().live.some((m) => m.id === id && (generation === undefined || m.generation === generation));

export const isKnown = (node: Scuttlebutt, id: string, generation?: number): boolean =>
  [...node.state().live, ...node.state().dead].some(
    (m) => m.id === id && (generation === undefined || m.generation === generation),
  );

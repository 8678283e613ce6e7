/**
 * `node dist/bench/adversary.js [--agents 5] [--packets 2000] [--per-packet 20]`: what a stranger
 * costs a cluster of real agents (LAN defaults, loopback). It prints, as one JSON line:
 *   the reply ratio   bytes the target sent back to a stranger per byte of SYN with an empty digest;
 *   the flood         RSS of the target and of another agent before and 3 s after a flood of
 *                     --packets ACKs from one socket, each introducing --per-packet fake members,
 *                     and how many members each then holds;
 *   the counters      the target's stats().dropped and .rejected after the flood.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ack, emptyDigest, HostilePeer, nodeDelta, syn } from '../test/adversary/peer.js';
import { procMB } from './proc-status.js';

const AGENT = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const rssMB = (pid: number): number => procMB(pid, ['VmRSS'], NaN).VmRSS;

async function get<T>(http: string, path: string): Promise<T> {
  return (await (await fetch(`http://${http}${path}`)).json()) as T;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '5' },
      packets: { type: 'string', default: '2000' },
      'per-packet': { type: 'string', default: '20' },
    },
  });
  const n = Number(values.agents);
  const packets = Number(values.packets);
  const perPacket = Number(values['per-packet']);
  const base = 29_000 + (process.pid % 150) * 20; // below the ephemeral range (32768 and up)
  const procs: ChildProcess[] = [];
  const gossip = (i: number): string => `127.0.0.1:${base + 2 * i}`;
  const http = (i: number): string => `127.0.0.1:${base + 2 * i + 1}`;
  const peer = await HostilePeer.open('default');
  try {
    for (let i = 0; i < n; i++) {
      const args = [
        AGENT,
        'agent',
        '--bind',
        gossip(i),
        '--http',
        http(i),
        '--node-id',
        `a${i}`,
        '--log-level',
        'silent',
        ...(i > 0 ? ['--join', gossip(0)] : []),
      ];
      procs.push(spawn(process.execPath, args, { stdio: 'ignore' }));
    }
    const started = Date.now();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await Promise.all(
        procs.map((_, i) =>
          get<{ live: unknown[] }>(http(i), '/members')
            .then((s) => s.live.length === n)
            .catch(() => false),
        ),
      );
      if (ok.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('agents did not converge');
      await sleep(200);
    }
    const joinSeconds = (Date.now() - started) / 1000;
    await sleep(3000);
    const target = gossip(0);
    // The reply ratio: ten SYNs with an empty digest, as a stranger would send.
    let synBytes = 0;
    const since = Date.now();
    for (let i = 0; i < 10; i++) synBytes += await peer.send(target, syn('default', emptyDigest()));
    await sleep(1500);
    const replyBytes = peer.bytesFrom(target, since);
    const rssBefore = [rssMB(procs[0]!.pid!), rssMB(procs[1]!.pid!)];
    let k = 0;
    for (let p = 0; p < packets; p++) {
      const nodes = Array.from({ length: perPacket }, () =>
        nodeDelta({ id: `fake-${k++}`, generation: 1, address: '127.0.0.1:9' }, { heartbeat: 1 }),
      );
      await peer.send(target, ack('default', nodes));
      // Batches the kernel's receive buffer holds: a packet it drops never tests the node.
      if (p % 100 === 99) await sleep(20);
    }
    await sleep(3000);
    const rssAfter = [rssMB(procs[0]!.pid!), rssMB(procs[1]!.pid!)];
    const members = await Promise.all(
      [0, 1].map(async (i) => {
        const s = await get<{ live: unknown[]; dead: unknown[] }>(http(i), '/members');
        return s.live.length + s.dead.length;
      }),
    );
    const stats = await get<{ dropped: Record<string, number>; rejected: Record<string, number> }>(http(0), '/stats');
    const nonzero = (r: Record<string, number>): Record<string, number> =>
      Object.fromEntries(Object.entries(r).filter(([, v]) => v > 0));
    process.stdout.write(
      `${JSON.stringify({
        agents: n,
        joinSeconds,
        synReplyRatio: Number((replyBytes / synBytes).toFixed(2)),
        synBytes,
        replyBytes,
        fakesSent: k,
        rssMBBefore: rssBefore.map((x) => Number(x.toFixed(1))),
        rssMBAfter: rssAfter.map((x) => Number(x.toFixed(1))),
        membersAfter: members,
        dropped: nonzero(stats.dropped),
        rejected: nonzero(stats.rejected),
      })}\n`,
    );
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await peer.close();
  }
}

await main();

/**
 * The agent's memory under writes: its young generation does not grow unless node is told how large it may be,
 * and its old generation is collected before V8's own limit (8 MB past what it holds) would make it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent as HttpAgent, request } from 'node:http';
import { killAll, startAgent, type Agent } from './agents.js';

const put = (http: string, agent: HttpAgent, key: string, body: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const [host, port] = http.split(':') as [string, string];
    const req = request(
      {
        host,
        port: Number(port),
        method: 'PUT',
        path: `/kv/${key}`,
        agent,
        headers: { 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });

/** A heap space's committed size, from the agent's /metrics. */
const heapSpace = async (a: Agent, space: 'new' | 'old'): Promise<number> => {
  const metrics = await (await fetch(`http://${a.http}/metrics`)).text();
  const line = new RegExp(`^nodejs_heap_space_size_total_bytes\\{space="${space}"\\} (\\d+)`, 'm');
  return Number(line.exec(metrics)?.[1]);
};

/** The young generation's size (both semi-spaces) before and after 3,000 writes of 1 KB. */
async function newSpaceAcrossWrites(a: Agent): Promise<[number, number]> {
  const before = await heapSpace(a, 'new');
  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    // Enough allocation (requests, views, events) for V8 to double the young generation several times over.
    for (let i = 0; i < 3000; i++)
      assert.equal(await put(a.http, keepAlive, `k${i % 50}`, `${i}`.padEnd(1000, 'x')), 200);
  } finally {
    keepAlive.destroy();
  }
  return [before, await heapSpace(a, 'new')];
}

test('an agent taking writes keeps its young generation at its initial size; a semi-space flag given to node is left alone', async () => {
  const agents: Agent[] = [];
  try {
    const held = await startAgent('young-0');
    agents.push(held);
    const [start, end] = await newSpaceAcrossWrites(held);
    assert.ok(start > 0, `new space ${start} B`);
    const sized = await startAgent('young-1', [], { NODE_OPTIONS: '--max-semi-space-size=32' });
    agents.push(sized);
    const [from, grown] = await newSpaceAcrossWrites(sized);
    assert.ok(grown > from, `new space ${from} B, then ${grown} B: node's own flag governs`);
    // Node 20-24 hold the new space exactly; Node 26's V8 still moves it by a step now and then (seen: 6 -> 7.5 MB
    // against 5 -> 13 MB for the sized agent). Without the setting the held agent grows as the sized one does.
    assert.ok(
      end - start < (grown - from) / 2,
      `held: new space ${start} B, then ${end} B; sized by node's flag: ${from} B, then ${grown} B`,
    );
  } finally {
    killAll(agents);
  }
});

const MB = 1024 * 1024;

/** How far the old space's committed size rose over 8,000 writes of 1 KB, sampled every 100 writes. */
async function oldSpaceGrowthAcrossWrites(a: Agent): Promise<number> {
  const start = await heapSpace(a, 'old');
  let peak = start;
  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    // Enough promoted garbage (requests, views, events that outlive two young collections) that V8's own
    // schedule lets the old space grow past its minimum step of 8 MB.
    for (let i = 0; i < 8000; i++) {
      assert.equal(await put(a.http, keepAlive, `k${i % 50}`, `${i}`.padEnd(1000, 'x')), 200);
      if (i % 100 === 99) peak = Math.max(peak, await heapSpace(a, 'old'));
    }
  } finally {
    keepAlive.destroy();
  }
  return peak - start;
}

test('an agent taking writes collects its old generation within a few MB; --old-space-step-mb 0 leaves it to V8', async () => {
  const agents: Agent[] = [];
  try {
    const held = await startAgent('old-0');
    agents.push(held);
    const heldGrowth = await oldSpaceGrowthAcrossWrites(held);
    const free = await startAgent('old-1', ['--old-space-step-mb', '0']);
    agents.push(free);
    const freeGrowth = await oldSpaceGrowthAcrossWrites(free);
    // Seen on Node 20-26: held 3.7-4.5 MB, left to V8 9.5-14 MB. Without the check both grow alike.
    const seen = `held: old space grew ${(heldGrowth / MB).toFixed(1)} MB; left to V8: ${(freeGrowth / MB).toFixed(1)} MB`;
    assert.ok(heldGrowth < 8 * MB, seen);
    assert.ok(heldGrowth < freeGrowth / 2, seen);
  } finally {
    killAll(agents);
  }
});

/** The agent's memory under writes: its young generation does not grow unless node is told how large it may be. */
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

const newSpace = async (a: Agent): Promise<number> => {
  const metrics = await (await fetch(`http://${a.http}/metrics`)).text();
  return Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec(metrics)?.[1]);
};

/** The young generation's size (both semi-spaces) before and after 3,000 writes of 1 KB. */
async function newSpaceAcrossWrites(a: Agent): Promise<[number, number]> {
  const before = await newSpace(a);
  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    // Enough allocation (requests, views, events) for V8 to double the young generation several times over.
    for (let i = 0; i < 3000; i++)
      assert.equal(await put(a.http, keepAlive, `k${i % 50}`, `${i}`.padEnd(1000, 'x')), 200);
  } finally {
    keepAlive.destroy();
  }
  return [before, await newSpace(a)];
}

test('an agent taking writes keeps its young generation at its initial size; a semi-space flag given to node is left alone', async () => {
  const agents: Agent[] = [];
  try {
    const held = await startAgent('young-0');
    agents.push(held);
    const [start, end] = await newSpaceAcrossWrites(held);
    assert.ok(start > 0, `new space ${start} B`);
    const sized = await startAgent('young-1', [], { NODE_OPTIONS: '--max-semi-space-size=8' });
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

/**
 * Keys starting with U+0000 belong to the protocol (protocol 7's gate): a running node's set, setWithTtl, delete
 * and initial metadata refuse them with SB_ERR_INVALID_ARG, and the agent's HTTP API answers 400 with the same
 * message on PUT and DELETE /kv/KEY (the only agent path that writes a key by name: the CLI's set and delete go
 * through it, and argv cannot carry U+0000 to --tag). One node in-process, real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScuttlebutt, defaultLanConfig, InvalidArgumentError } from '../../src/index.js';
import { startHttpApi } from '../../src/cli/http-api.js';
import { READY_KEY, SPEAKS_KEY } from '../../src/wire/liveness-messages.js';

const config = (id: string) => defaultLanConfig({ node: { id }, listenAddress: '127.0.0.1:0', gossipIntervalMs: 100 });

function refused(err: unknown): boolean {
  return (
    err instanceof InvalidArgumentError &&
    err.code === 'SB_ERR_INVALID_ARG' &&
    /starts with U\+0000.*reserved.*use a key that does not start with U\+0000/.test(err.message)
  );
}

test('the library refuses reserved keys in set, setWithTtl, delete and the initial metadata', async () => {
  // A node that should not exist is shut down all the same, so a failure cannot leave the process running.
  let thrown: unknown = null;
  try {
    await (await createScuttlebutt(config('r0'), { [SPEAKS_KEY]: '7' })).shutdown();
  } catch (err) {
    thrown = err;
  }
  assert.ok(refused(thrown), `created, or refused otherwise: ${String(thrown)}`);
  const node = await createScuttlebutt(config('r1'), { role: 'web' });
  try {
    assert.throws(() => node.set(SPEAKS_KEY, '7'), refused);
    assert.throws(() => node.setWithTtl(READY_KEY, '1', 1_000), refused);
    assert.throws(() => node.delete(READY_KEY), refused);
    assert.deepEqual(node.state().self.metadata, { role: 'web' });
    node.set('zone', 'a');
    assert.equal(node.get('zone'), 'a');
  } finally {
    await node.shutdown();
  }
});

test('the agent answers 400 with the refusal on PUT and DELETE /kv of a reserved key', async () => {
  const node = await createScuttlebutt(config('r2'));
  const api = await startHttpApi(node, '127.0.0.1:0');
  try {
    const base = `http://${api.address}/kv/`;
    for (const [method, key] of [
      ['PUT', SPEAKS_KEY],
      ['PUT', READY_KEY],
      ['DELETE', READY_KEY],
      ['DELETE', '\u0000other'],
    ] as const) {
      const res = await fetch(base + encodeURIComponent(key), { method, body: method === 'PUT' ? '1' : undefined });
      const body = (await res.json()) as { error?: string };
      assert.equal(res.status, 400, `${method} ${JSON.stringify(key)}`);
      assert.match(body.error ?? '', /starts with U\+0000.*use a key that does not start with U\+0000/);
    }
    assert.deepEqual(node.state().self.metadata, {});
    const ok = await fetch(`${base}zone`, { method: 'PUT', body: 'a' });
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${base}zone`, { method: 'DELETE' })).status, 200);
  } finally {
    await api.close();
    await node.shutdown();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreMessage, Outbound } from '../../src/core/types.js';
import { encodeAny } from '../../src/wire/any.js';
import { coreConfig, MiniCluster } from './mini-cluster.js';

const addr = (i: number): string => `10.0.0.${i}:9111`;

/** Low-bit columns in a message: a compact digest's, or positional bumps'. */
function lowBitColumns(m: CoreMessage): number {
  let n = 0;
  if (m.type === 'syn' && m.digest.checks) n++;
  if ((m.type === 'synAck' || m.type === 'ack') && m.delta.bumps.checks) n++;
  return n;
}

test('a peer the harness says reads no low bits (an older protocol) gets exact heartbeats; the others still get low bits', () => {
  const c = new MiniCluster(3);
  // Heartbeats far apart (members up for different times): low bits pay in every compact column.
  const old = addr(2);
  for (let i = 1; i <= 5; i++)
    c.add(coreConfig(i, { firstHeartbeat: 1 + i * 500, lowBitsTo: (peer) => peer !== old }), [addr(1)]);
  const toOld: Outbound[] = [];
  const toOthers: Outbound[] = [];
  const send = c.send.bind(c);
  c.send = (from: string, out: Outbound[]): void => {
    for (const o of out) {
      (o.to === old ? toOld : toOthers).push(o);
      // What the old peer receives must encode in protocol 3.
      if (o.to === old) encodeAny(o.message, 3);
    }
    send(from, out);
  };
  c.run(20_000);
  for (const core of c.nodes.values()) assert.equal(core.snapshot().live.length, 5, `${core.self.id} sees all five`);
  const compactToOld = toOld.filter((o) => o.message.type === 'syn' && o.message.digest.mode === 'compact').length;
  assert.ok(compactToOld > 10, `the old peer gets compact digests (${compactToOld})`);
  assert.equal(
    toOld.reduce((n, o) => n + lowBitColumns(o.message), 0),
    0,
    'no low bits to the old peer',
  );
  assert.ok(toOthers.reduce((n, o) => n + lowBitColumns(o.message), 0) > 10, 'low bits to the others');
});

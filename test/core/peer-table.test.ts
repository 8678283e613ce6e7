import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerTable } from '../../src/core/peer-table.js';
import { identitySize } from '../../src/wire/codec.js';

test('peer table: identity sizes small and large, kept through growth and renumbering', () => {
  const t = new PeerTable(10, 2);
  const ids = [10, 200, 253, 254, 255, 300, 1000].map((n, i) => ({
    id: 'x'.repeat(n),
    generation: i + 1,
    address: `10.0.0.${i}:9111`,
  }));
  const slots = ids.map((id, i) => t.allocate(id, i));
  slots.forEach((s, i) => assert.equal(t.identitySize(s), identitySize(ids[i]!)));
  const order = Int32Array.from(slots).reverse();
  t.permute(order);
  order.forEach((old, k) => {
    assert.equal(t.identities[k], ids[old]);
    assert.equal(t.identitySize(k), identitySize(ids[old]!));
  });
  assert.ok(t.identities.length >= t.used);
});

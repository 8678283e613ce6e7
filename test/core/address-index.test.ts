import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressIndex } from '../../src/core/address-index.js';
import { seededRandom } from '../../src/core/random.js';
import { PeerTable } from '../../src/core/peer-table.js';

/**
 * The index against a count per address, through admissions and removals of members sharing
 * addresses, renumbering, and (with a hash of few values) addresses whose hashes collide.
 */
for (const [name, hash] of [
  ['real hash', undefined],
  ['colliding hash', (a: string): number => a.length % 3],
] as const) {
  test(`address index (${name}): agrees with a count per address`, () => {
    const rng = seededRandom(11);
    const table = new PeerTable(10, 4);
    const index = new AddressIndex(table, 4, hash);
    const counts = new Map<string, number>();
    const held: number[] = [];
    const addresses = Array.from({ length: 12 }, (_, i) => `10.0.${i}.${'1'.repeat(1 + (i % 4))}:9111`);
    for (let step = 0; step < 5000; step++) {
      const r = rng.next();
      if (r < 0.5 || held.length === 0) {
        const address = addresses[Math.floor(rng.next() * addresses.length)] as string;
        const s = table.allocate({ id: `n${step}`, generation: 1, address });
        index.add(s, address);
        held.push(s);
        counts.set(address, (counts.get(address) ?? 0) + 1);
      } else if (r < 0.95) {
        const k = Math.floor(rng.next() * held.length);
        const s = held[k] as number;
        const address = table.identity(s).address;
        index.remove(s, address);
        table.release(s);
        held.splice(k, 1);
        const c = (counts.get(address) as number) - 1;
        if (c > 0) counts.set(address, c);
        else counts.delete(address);
      } else {
        const order = Int32Array.from(held).sort();
        const slotOf = new Int32Array(table.used).fill(-1);
        order.forEach((old, k) => (slotOf[old] = k));
        table.permute(order);
        index.remap(slotOf);
        for (let k = 0; k < held.length; k++) held[k] = slotOf[held[k] as number] as number;
      }
      for (const a of addresses) {
        assert.equal(index.has(a), counts.has(a), `step ${step}: ${a}`);
        // soleHolder names the one slot holding a, or says a scan is needed (shared, or a colliding hash).
        const c = counts.get(a) ?? 0;
        const sole = index.soleHolder(a);
        if (c === 0) assert.equal(sole, -1, `step ${step}: ${a} held by none`);
        else if (c > 1) assert.equal(sole, -2, `step ${step}: ${a} held by ${c}`);
        else if (sole !== -2 || name === 'real hash')
          assert.equal(table.records[sole]?.identity.address, a, `step ${step}: ${a}`);
      }
    }
  });
}

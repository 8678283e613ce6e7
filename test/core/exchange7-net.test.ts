import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SELF } from '../../src/core/membership.js';
import { randomInt } from '../../src/core/random.js';
import { Net7 } from './exchange7-net.js';
import type { Node7 } from './state7-node.js';

for (const n of [20, 300]) {
  test(`${n} nodes: a write spreads by news in a few rounds, the rest by beats' hashes and drill-down`, () => {
    for (const seed of [1, 2, 3]) {
      const net = new Net7({ n, seed });
      assert.ok(net.converged(), 'everyone knows everyone');
      const writer = net.nodes[0] as Node7;
      writer.own.set('k', 'news', net.now);
      const version = writer.membership.table.maxVersion(SELF);
      const reached: number[] = [];
      while (!net.converged() && net.round < 200) {
        net.step();
        reached.push(net.holding(writer, version));
      }
      const byNews = reached.findIndex((k) => k >= 0.9 * n) + 1;
      console.log(
        `n=${n} seed=${seed}: holding after each round ${reached.slice(0, 8).join(' ')}; 90% at round ${byNews}, ` +
          `equal hashes at round ${net.round}; sent ${JSON.stringify(Object.fromEntries(net.counts))}`,
      );
      assert.ok(net.converged(), `seed ${seed}: equal hashes`);
      assert.ok(byNews > 0 && byNews <= 8, `seed ${seed}: 90% hold the write by round ${byNews}`);
      for (const node of net.nodes) node.assertHashInStep();
    }
  });

  test(`${n} nodes: state diverged while nothing was heard converges by beats' hashes and drill-down alone`, () => {
    for (const seed of [4, 5]) {
      const net = new Net7({ n, seed });
      net.silent = true;
      for (let k = 0; k < 40; k++) {
        const node = net.nodes[randomInt(net.rng, n)] as Node7;
        if (randomInt(net.rng, 4) === 0) node.bumpIncarnation();
        else node.own.set(`k${randomInt(net.rng, 5)}`, `v${k}`, net.now);
        net.step();
      }
      for (const node of net.nodes) net.settle(node);
      net.silent = false;
      assert.ok(!net.converged());
      while (!net.converged() && net.round < 400) net.step();
      const sums = net.sent('sums');
      const syn = net.sent('syn7');
      console.log(
        `n=${n} seed=${seed}: equal hashes after ${net.round - 40} rounds; sums ${sums.count} (${sums.bytes} B), ` +
          `syn7 ${syn.count} (${syn.bytes} B), synAck7 ${net.sent('synAck7').count}, ack7 ${net.sent('ack7').count}, ` +
          `streams ${net.streams}`,
      );
      assert.ok(net.converged(), `seed ${seed}: equal hashes`);
      assert.equal(net.sent('syn7').count > 0, true);
      // Above 128 members a drill-down starts with sums; at or below, with one SYN7 of every entry.
      assert.equal(sums.count > 0, n > 128, 'sums exactly when the membership is over 128');
      for (const node of net.nodes) node.assertHashInStep();
    }
  });
}

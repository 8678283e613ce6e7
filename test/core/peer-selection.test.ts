/**
 * Peer selection under a membership flood: members a sender made up (admitted at one heartbeat that
 * never advances) must not take real members' place as gossip partners; a genuine joiner, whose
 * heartbeat advances, must.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityRef } from '../../src/core/identity.js';
import type { ScuttlebuttCore } from '../../src/core/core.js';
import type { AckMessage, NodeIdentity } from '../../src/wire/messages.js';
import { NO_BUMPS } from '../../src/wire/codec.js';
import { coreConfig, MiniCluster } from './mini-cluster.js';

const addr = (i: number): string => `10.0.0.${i}:9111`;

function formed(n: number): MiniCluster {
  const net = new MiniCluster(3);
  for (let i = 1; i <= n; i++) net.add(coreConfig(i), i === 1 ? [] : [addr(1)]);
  net.run(10_000);
  for (const core of net.nodes.values()) assert.equal(core.snapshot().live.length, n);
  return net;
}

/** An ACK from `from` introducing `count` members nobody runs, each at heartbeat 1. */
function flood(core: ScuttlebuttCore, from: string, count: number, now: number): void {
  const fake = (k: number): NodeIdentity => ({
    id: `fake-${k}`,
    generation: 1,
    address: `10.9.${k >> 8}.${k & 255}:9`,
  });
  const ack: AckMessage = {
    type: 'ack',
    clusterId: 'test',
    delta: {
      nodes: Array.from({ length: count }, (_, k) => ({
        ref: identityRef(fake(k)),
        identity: fake(k),
        heartbeat: 1,
        heartbeatAge: 0,
        lastGcVersion: 0,
        fromVersion: 0,
        maxVersion: 0,
        values: [],
      })),
      bumps: NO_BUMPS,
    },
  };
  core.receive(from, ack, now);
  assert.equal(
    core.snapshot().live.filter((v) => v.node.id.startsWith('fake-')).length,
    count,
    'the fakes were admitted',
  );
}

/** The SYN targets of `rounds` rounds of `core`, 100 ms apart (well within the fakes' first deadline). */
function targets(core: ScuttlebuttCore, from: number, rounds: number): string[][] {
  const out: string[][] = [];
  for (let r = 0; r < rounds; r++)
    out.push(
      core
        .tick(from + r * 100)
        .filter((o) => o.message.type === 'syn')
        .map((o) => o.to),
    );
  return out;
}

test('peer selection: with more proven members than twice the fanout, a flood of unproven ones takes at most one peer a round', () => {
  const net = formed(10);
  const a = net.nodes.get(addr(1))!;
  flood(a, addr(2), 300, net.now);
  const real = new Set(Array.from({ length: 10 }, (_, i) => addr(i + 1)));
  for (const round of targets(a, net.now + 10, 30)) {
    assert.equal(round.length, 3);
    assert.ok(round.filter((to) => real.has(to)).length >= 2, `two real members in ${round.join(', ')}`);
  }
});

test('peer selection: with few proven members, every one is picked each round and unproven ones only fill the fanout', () => {
  const net = formed(3);
  const a = net.nodes.get(addr(1))!;
  flood(a, addr(2), 300, net.now);
  for (const round of targets(a, net.now + 10, 30)) {
    assert.equal(round.length, 3);
    assert.ok(round.includes(addr(2)) && round.includes(addr(3)), `both real peers in ${round.join(', ')}`);
  }
});

test('peer selection: a joiner is a gossip partner of the others within a few rounds, and unproven members are picked at a cold start', () => {
  const net = formed(10);
  const joiner = net.add(coreConfig(11), [addr(1)]);
  net.run(3000);
  for (const core of net.nodes.values()) assert.equal(core.snapshot().live.length, 11);
  const a = net.nodes.get(addr(2))!;
  assert.ok(
    targets(a, net.now + 10, 40)
      .flat()
      .includes(addr(11)),
    'the joiner is picked',
  );
  // A fresh node knows only what one reply taught it, every member at the heartbeat it was admitted at.
  const fresh = net.add(coreConfig(12), [addr(1)]);
  net.run(1);
  net.send(addr(12), fresh.tick(net.now));
  net.run(50);
  assert.ok(fresh.snapshot().live.length > 3);
  assert.equal(targets(fresh, net.now + 10, 1)[0]!.length, 3, 'a full round from unproven members');
  void joiner;
});

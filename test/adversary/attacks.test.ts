/**
 * The attacks of the untrusted-input issue, each against real nodes over real UDP, each asserting
 * the outcome the threat model (docs/security.md) wants. An attack the code cannot yet end that way
 * is a `todo` test saying what is missing: it runs, its failure is reported, the suite stays green.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Scuttlebutt } from '../../src/index.js';
import type { NodeIdentity } from '../../src/wire/messages.js';
import { identityRef } from '../../src/core/identity.js';
import { waitFor } from '../runtime/procs.js';
import { ack, digestOf, emptyDigest, HostilePeer, leave, nodeDelta, syn, synAck, value, type Learned } from './peer.js';
import { CLUSTER, INTERVAL_MS, isKnown, isLive, MODES, sleep, startCluster, stopAll } from './cluster.js';

/** Rounds within which a forged claim must have healed everywhere. */
const HEAL_ROUNDS = 30;
const HEAL_MS = HEAL_ROUNDS * INTERVAL_MS;

for (const mode of MODES) {
  describe(`attacks, ${mode.name} (the attacker ${mode.keys.length > 0 ? 'holds the key' : 'is on the network'})`, () => {
    let nodes: Scuttlebutt[] = [];
    let peer: HostilePeer;
    let target: Scuttlebutt;
    let victim: Scuttlebutt;
    const deadEvents: { at: string; id: string }[] = [];
    // A fresh cluster for each attack: one attack's damage must not decide the next one's outcome.
    beforeEach(async () => {
      deadEvents.length = 0;
      nodes = await startCluster(5, mode);
      target = nodes[0]!;
      victim = nodes[1]!;
      for (const node of nodes) node.on('dead', (m) => deadEvents.push({ at: node.self.id, id: m.id }));
      peer = await HostilePeer.open(CLUSTER, mode.keys);
    });
    afterEach(async () => {
      await peer.close();
      await stopAll(nodes);
    });
    const learnVictim = async (): Promise<Learned> => (await peer.learn(target.self.address)).get(victim.self.id)!;
    /** The victim is live everywhere, holds only its own metadata there, and a write of its own reaches everyone. */
    const victimHealed = async (key: string): Promise<void> => {
      victim.set(key, 'mine');
      await waitFor(
        () =>
          nodes.every((n) =>
            n
              .state()
              .live.some(
                (m) =>
                  m.id === victim.self.id &&
                  m.metadata[key] === 'mine' &&
                  m.metadata['idx'] === '1' &&
                  m.metadata['planted'] === undefined,
              ),
          ),
        HEAL_MS,
        `${victim.self.id} live everywhere with its own metadata and its new write (${key})`,
      );
    };

    test('forged leave: the victim is live again everywhere within the healing bound', async () => {
      const v = await learnVictim();
      assert.equal(v.commitment?.length, 16, 'the attacker sees the commitment in gossip');
      for (const n of nodes)
        if (n !== victim) await peer.send(n.self.address, leave(CLUSTER, victim.self, v.heartbeat + 8));
      await victimHealed('after-leave');
    });

    test('forged leave is refused outright, without a proof or with a wrong one, and counted', async () => {
      const since = deadEvents.length;
      const v = await learnVictim();
      const before = target.stats().rejected['forged-leave'] ?? 0;
      await peer.send(target.self.address, leave(CLUSTER, victim.self, v.heartbeat));
      // The attacker knows the commitment, not the secret: any 16 bytes it makes up open nothing.
      await peer.send(target.self.address, leave(CLUSTER, victim.self, v.heartbeat, randomBytes(16)));
      await waitFor(
        () => (target.stats().rejected['forged-leave'] ?? 0) - before === 2,
        2000,
        'both forgeries counted',
      );
      await sleep(10 * INTERVAL_MS); // a death taken from them would have been gossiped on by now
      assert.deepEqual(
        deadEvents.slice(since).filter((e) => e.id === victim.self.id),
        [],
        'the victim was never marked dead',
      );
      assert.equal((target.stats().rejected['forged-leave'] ?? 0) - before, 2, 'both forgeries counted, no more');
    });

    test("the member's own leave (its proof opens its commitment) is taken everywhere at once", async () => {
      const leaver = nodes[4]!;
      const since = deadEvents.length;
      const others = nodes.filter((n) => n !== leaver);
      await leaver.leave();
      await waitFor(
        () => others.every((n) => !isLive(n, leaver.self.id)),
        20 * INTERVAL_MS,
        'the leaver dead everywhere',
      );
      const left = deadEvents.slice(since).filter((e) => e.id === leaver.self.id);
      assert.equal(left.length, others.length, JSON.stringify(left));
      for (const n of others) assert.equal(n.stats().rejected['forged-leave'] ?? 0, 0, n.self.id);
      nodes = others;
    });

    test('forged state about another member (heartbeat, a key at a higher version, a planted key) heals by the owner refuting it', async () => {
      const v = await learnVictim();
      const forged = nodeDelta(victim.self, {
        heartbeat: v.heartbeat + 500,
        introduce: false,
        fromVersion: v.maxVersion,
        values: [value('idx', 'forged', v.maxVersion + 400), value('planted', 'by-the-attacker', v.maxVersion + 500)],
      });
      await peer.send(target.self.address, ack(CLUSTER, [forged]));
      await victimHealed('after-forged-state');
    });

    test('heartbeat inflation alone (a bump) heals, and the victim is never convicted for it', async () => {
      const since = deadEvents.length;
      const v = await learnVictim();
      const bumps = {
        count: 1,
        positional: false,
        keys: [v.ref],
        heartbeats: [v.heartbeat + 800],
        checks: null,
        ages: [0],
      };
      await peer.send(target.self.address, { type: 'ack', clusterId: CLUSTER, delta: { nodes: [], bumps } });
      await victimHealed('after-bump');
      await sleep(2000); // past the detector's deadline had the victim's real heartbeats been ignored
      assert.deepEqual(
        deadEvents.slice(since).filter((e) => e.id === victim.self.id),
        [],
      );
    });

    test('an implausible leap (heartbeat +1e9, a version near 2^32) is dropped and counted, not applied', async () => {
      const v = await learnVictim();
      const before = target.stats().rejected;
      await peer.send(
        target.self.address,
        ack(CLUSTER, [nodeDelta(victim.self, { heartbeat: v.heartbeat + 1e9, introduce: false })]),
      );
      await peer.send(
        target.self.address,
        ack(CLUSTER, [
          nodeDelta(victim.self, {
            heartbeat: v.heartbeat,
            introduce: false,
            fromVersion: v.maxVersion,
            values: [value('idx', 'forged', 2 ** 32 - 2)],
          }),
        ]),
      );
      const grew = (k: string): number => (target.stats().rejected[k] ?? 0) - (before[k] ?? 0);
      await waitFor(
        () => grew('implausible-heartbeat') + grew('implausible-version') === 2,
        2000,
        'both leaps counted',
      );
      const seen = target.state().live.find((m) => m.id === victim.self.id)!;
      assert.ok(seen.heartbeat < v.heartbeat + 1e6, `heartbeat ${seen.heartbeat} taken`);
      assert.equal(seen.metadata['idx'], '1');
      assert.equal(
        grew('implausible-heartbeat') + grew('implausible-version'),
        2,
        JSON.stringify(target.stats().rejected),
      );
    });

    test('a stranger cannot shadow a live member with a higher generation of its id', async () => {
      const since = deadEvents.length;
      const shadow: NodeIdentity = { ...victim.self, generation: victim.self.generation + 1, address: peer.address };
      const refused = (): number => target.stats().rejected['shadow-refused'] ?? 0;
      const before = refused();
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(shadow, { heartbeat: 1 })]));
      await waitFor(() => refused() === before + 1, 2000, 'the shadow refused');
      await sleep(5 * INTERVAL_MS); // a conviction of the real member would have followed by now
      assert.ok(isLive(target, victim.self.id, victim.self.generation), 'the real member is still live');
      assert.ok(!isKnown(target, victim.self.id, shadow.generation), 'the shadow was admitted');
      assert.deepEqual(
        deadEvents.slice(since).filter((e) => e.id === victim.self.id),
        [],
      );
    });

    test('membership flood: one sender introduces a bounded number of members per interval, the table stops at maxMembers, every excess one is counted, no real member is evicted', async () => {
      // Sized so that each limit binds on its own: the flood offers far more than cap per interval
      // (20 per packet, many packets per interval), and the table fills only after several intervals.
      const limits = { maxMembers: 60, maxNewMembersPerSender: 5 };
      const small = await startCluster(3, mode, limits);
      try {
        const flooded = small[0]!;
        let admitted = 0;
        flooded.on('live', (m) => {
          if (m.id.startsWith('fake-')) admitted++;
        });
        let k = 0;
        const floodStart = Date.now();
        const memberLimited = (): boolean => (flooded.stats().rejected['member-limit'] ?? 0) > 0;
        for (const deadline = Date.now() + 100 * INTERVAL_MS; !memberLimited();) {
          assert.ok(
            Date.now() < deadline,
            `the table never filled: ${admitted} admitted, ${JSON.stringify(flooded.stats().rejected)}`,
          );
          for (let p = 0; p < 10; p++)
            await peer.send(
              flooded.self.address,
              ack(
                CLUSTER,
                Array.from({ length: 20 }, () =>
                  nodeDelta({ id: `fake-${k++}`, generation: 1, address: '127.0.0.1:9' }, { heartbeat: 1 }),
                ),
              ),
            );
          await sleep(INTERVAL_MS / 2);
        }
        // The reply to a later packet: every flood packet before it has been handled (and its events delivered).
        const since = Date.now();
        await peer.send(flooded.self.address, syn(CLUSTER, emptyDigest()));
        assert.ok(await peer.reply(flooded.self.address, () => true, 2000, since), 'the flooded node answers');
        const r = flooded.stats().rejected;
        assert.equal(
          admitted + r['member-limit']! + r['introduction-limit']!,
          k,
          `every introduction admitted or counted: ${admitted} admitted, ${JSON.stringify(r)}`,
        );
        // Introductions are counted per interval of the node's clock, so over the flood's whole span the
        // sender got at most one allowance per interval it touched. (Event delivery times say nothing
        // finer: on a busy machine events of several intervals can be delivered within one.)
        const intervalsTouched = Math.ceil((Date.now() - floodStart) / INTERVAL_MS) + 1;
        assert.ok(
          admitted <= intervalsTouched * limits.maxNewMembersPerSender,
          `${admitted} admitted from one sender over ${intervalsTouched} intervals`,
        );
        assert.ok(r['introduction-limit']! > 0, JSON.stringify(r));
        for (const node of small)
          assert.ok(
            node.state().live.length + node.state().dead.length <= limits.maxMembers,
            `${node.self.id} holds at most maxMembers`,
          );
        // The fakes never heartbeat: once they are convicted (about a second after each is admitted,
        // on every node it reached), gossip among the real members is undiluted again.
        await waitFor(
          () => small.every((node) => small.every((other) => isLive(node, other.self.id))),
          100 * INTERVAL_MS,
          'every real member live everywhere after the flood',
        );
      } finally {
        await stopAll(small);
      }
    });

    test('membership flood: no real member is ever convicted while fakes dilute the gossip targets', async () => {
      const small = await startCluster(3, mode, { maxMembers: 300, maxNewMembersPerSender: 40 });
      const dead: string[] = [];
      // What a failure needs to say why: when each conviction came (from the flood's start), how close
      // each real pair came to conviction and when, and whether the process itself stopped for a while
      // (every node of it stalls at once then: see LocalHealth).
      let floodStart = Date.now();
      const deaths: string[] = [];
      for (const node of small)
        node.on('dead', (m, reason) => {
          if (!m.id.startsWith('n')) return;
          dead.push(`${node.self.id}->${m.id}`);
          deaths.push(`${node.self.id}->${m.id} (${reason}) at ${Date.now() - floodStart} ms`);
        });
      const closest = new Map<string, { ratio: number; at: number }>();
      const sampler = setInterval(() => {
        for (const node of small)
          for (const m of node.members({ status: 'live' })) {
            if (!m.id.startsWith('n') || !m.silence) continue;
            const pair = `${node.self.id}->${m.id}`;
            const ratio = m.silence.silentForMs / m.silence.convictAfterMs;
            if (ratio > (closest.get(pair)?.ratio ?? 0)) closest.set(pair, { ratio, at: Date.now() - floodStart });
          }
      }, 20);
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      const diagnosis = (): string =>
        [
          `convictions: ${deaths.join(', ') || 'none'}`,
          `closest to conviction (silence / conviction silence, ms after the flood began): ${[...closest]
            .map(([pair, c]) => `${pair} ${c.ratio.toFixed(2)} at ${c.at}`)
            .join(', ')}`,
          `longest event-loop delay ${Math.round(loopDelay.max / 1e6)} ms`,
          ...small.map((node) => {
            const s = node.stats();
            const nonzero = (r: Record<string, number>): string =>
              JSON.stringify(Object.fromEntries(Object.entries(r).filter(([, v]) => v > 0)));
            return (
              `${node.self.id}: local stalls ${node.health().localStalls}, live ${s.liveMembers}, dead ${s.deadMembers}, ` +
              `rejected ${nonzero(s.rejected)}, dropped ${nonzero(s.dropped)}, errors ${nonzero(s.errors)}, ` +
              `liveness ${JSON.stringify(s.liveness)}`
            );
          }),
        ].join('\n');
      // Fakes live at once on the flooded node: the dilution really happened.
      let liveFakes = 0;
      let mostLiveFakes = 0;
      small[0]!.on(
        'live',
        (m) => void (m.id.startsWith('fake-') && (mostLiveFakes = Math.max(mostLiveFakes, ++liveFakes))),
      );
      small[0]!.on('dead', (m) => void (m.id.startsWith('fake-') && liveFakes--));
      try {
        // Three seconds of flood: fakes are convicted about a second after their admission and
        // new ones keep taking their place, so real members stay outnumbered throughout.
        let k = 0;
        floodStart = Date.now();
        for (const t0 = Date.now(); Date.now() - t0 < 3000;) {
          for (let p = 0; p < 10; p++)
            await peer.send(
              small[0]!.self.address,
              ack(
                CLUSTER,
                Array.from({ length: 20 }, () =>
                  nodeDelta({ id: `fake-${k++}`, generation: 1, address: '127.0.0.1:9' }, { heartbeat: 1 }),
                ),
              ),
            );
          await sleep(50);
        }
        const fakesKnown = (): number =>
          small.reduce(
            (n, node) =>
              n + [...node.state().live, ...node.state().dead].filter((m) => m.id.startsWith('fake-')).length,
            0,
          );
        await waitFor(() => fakesKnown() === 0, 100 * INTERVAL_MS, 'every fake convicted and removed everywhere');
        assert.ok(mostLiveFakes >= 100, `${mostLiveFakes} fakes live at once on the flooded node`);
        assert.deepEqual(dead, [], `real members convicted\n${diagnosis()}`);
      } finally {
        clearInterval(sampler);
        loopDelay.disable();
        await stopAll(small);
      }
    });

    test('reflection: a stranger gets back at most 3x the bytes it sent (SYN with an empty digest, SYN-ACK requesting everything)', async (t) => {
      // Sized so that the cap is what binds, with little slack: each member holds many small values
      // (the answer the stranger asks for is far above 3x, and is cut a value at a time, close under
      // the cap), and compression is off (it would shrink the cut replies by a data-dependent factor,
      // hiding a cap set too high).
      const big = await startCluster(5, mode, { enableCompression: false });
      const stranger = await HostilePeer.open(CLUSTER, mode.keys);
      try {
        for (const node of big) for (let i = 0; i < 60; i++) node.set(`k${i}`, `${node.self.id}-${i}`);
        const to = big[0]!.self.address;
        await waitFor(
          () => big.every((node) => node.state().live.every((m) => m.metadata['k59'] !== undefined)),
          HEAL_MS,
          'every value everywhere',
        );
        // A SYN-ACK whose request names every member as unknown: the ACK would carry them all.
        const refs = big.map((node) => ({ ref: identityRef(node.self), heartbeat: 0 }));
        const phases: [string, () => Promise<number>][] = [
          ['SYN with an empty digest', () => stranger.send(to, syn(CLUSTER, emptyDigest()))],
          ['SYN-ACK requesting every member', () => stranger.send(to, synAck(CLUSTER, [], digestOf(refs, true)))],
        ];
        const ratios: string[] = [];
        for (const [what, send] of phases) {
          const since = Date.now();
          let sent = 0;
          for (let i = 0; i < 5; i++) {
            sent += await send();
            // Each packet is answered (within its own allowance) before the next is sent.
            const before = stranger.received.length;
            await waitFor(() => stranger.received.length > before, 2000, `a reply to the ${what}`);
          }
          await sleep(100); // a reply past the cap would have arrived by now
          const got = stranger.bytesFrom(to, since);
          ratios.push(`${what}: ${got} B back for ${sent} B (${(got / sent).toFixed(2)}x)`);
        }
        t.diagnostic(ratios.join('; '));
        const total = stranger.bytesFrom(to) / stranger.bytesSentTo(to);
        assert.ok(total <= 3, ratios.join('; '));
        for (const r of ratios) assert.ok(Number(/\(([\d.]+)x\)/.exec(r)?.[1]) <= 3, ratios.join('; '));
        // The answer to the SYN-ACK was cut to the cap, not small anyway: the scenario tells 3x from a
        // looser cap. (The answer to a SYN, the responder's introduction, fills it only with the key's larger packets.)
        assert.ok(
          Number(/\(([\d.]+)x\)/.exec(ratios[1]!)?.[1]) > 2.7,
          `replies close under the cap: ${ratios.join('; ')}`,
        );
      } finally {
        await stranger.close();
        await stopAll(big);
      }
    });

    if (mode.keys.length > 0) {
      test('keyring: a replayed packet is dropped and counted before it is decoded, and earns no reply, from any address', async () => {
        const to = target.self.address;
        const replayed = (n: Scuttlebutt): number => n.stats().dropped['envelope:replayed'] ?? 0;
        // What a key holder sent, recorded on the wire: a SYN with an empty digest, and the SYN-ACK it earned.
        const recorded = peer.seal(syn(CLUSTER, emptyDigest()));
        await peer.sendRaw(to, recorded);
        assert.ok(await peer.reply(to, (m) => m.type === 'synAck'), 'the original is answered');
        const answer = peer.received.find((r) => r.from === to)!.packet;
        const keyless = await HostilePeer.open(CLUSTER, []);
        try {
          const before = {
            target: replayed(target),
            heard: peer.received.length,
            rejected: JSON.stringify(target.stats().rejected),
          };
          for (let i = 0; i < 3; i++) await keyless.sendRaw(to, recorded);
          await peer.sendRaw(to, recorded); // from the original's own address
          await keyless.sendRaw(to, answer); // the target's own packet, reflected back to it
          await waitFor(() => replayed(target) - before.target === 5, 2000, 'five replays counted');
          // A fresh packet after them, and its reply: a reply to any replay would have come before it.
          const freshAt = Date.now();
          await peer.send(to, syn(CLUSTER, emptyDigest()));
          assert.ok(
            await peer.reply(to, (m) => m.type === 'synAck', 2000, freshAt),
            'a fresh SYN after the replays is answered',
          );
          assert.equal(keyless.received.length, 0, 'no reply to the keyless replayer');
          assert.equal(
            peer.received.slice(before.heard).filter((r) => r.from === to).length,
            1,
            'no second reply to the original sender: only the fresh SYN was answered',
          );
          assert.equal(JSON.stringify(target.stats().rejected), before.rejected, 'nothing decoded');
          // Another member has not seen the SYN: it takes it once (the window is per sender's stream,
          // not per receiver; docs/security.md), answers a stranger within 3x, and refuses it after.
          const other = nodes[2]!;
          const sent = await keyless.sendRaw(other.self.address, recorded);
          await waitFor(
            () => keyless.bytesFrom(other.self.address) > 0,
            2000,
            'the first copy answered by another member',
          );
          await sleep(100); // the rest of its answer, if it had more than one packet
          assert.ok(
            keyless.bytesFrom(other.self.address) <= 3 * sent,
            `${keyless.bytesFrom(other.self.address)} B back for ${sent} B`,
          );
          const once = keyless.received.length;
          const otherBefore = replayed(other);
          await keyless.sendRaw(other.self.address, recorded);
          await waitFor(() => replayed(other) === otherBefore + 1, 2000, 'the second replay to another member counted');
          // Another recording the member has not seen, after it: its reply means the replay was handled before.
          await keyless.sendRaw(other.self.address, peer.seal(syn(CLUSTER, emptyDigest())));
          await waitFor(() => keyless.received.length >= 2 * once, 2000, 'a fresh recording answered');
          await sleep(100); // as above
          assert.equal(
            keyless.received.length,
            2 * once,
            `the replay not answered: ${once} packet(s) to each recording, none to the replay`,
          );
        } finally {
          await keyless.close();
        }
      });
    }
  });
}

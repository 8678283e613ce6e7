/**
 * A keyring cluster mixing the previous release (protocol 4, no replay window: random nonces) and
 * this tree (protocol 5, numbered nonces and windows), three agents each, and a key rotation
 * through it (SIGHUP re-reads the key file: [k1] -> [k1, k2] -> [k2, k1] -> [k2]).
 * Asserted: everyone sees everyone live with its metadata throughout, nobody is convicted, the new
 * agents talk 5 among themselves and 4 with the old ones, and the window drops no genuine packet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, waitFor } from '../runtime/procs.js';
import { Agent, consistent, NEW_AGENT, Watcher } from './agents.js';
import { RELEASES, skipUnless, unpackRelease } from './releases.js';
import { PROTOCOL_VERSION } from '../../src/wire/codec.js';

/** The last release that speaks 3..4 and writes 4. */
const PROTOCOL_4_RELEASE = RELEASES.find((r) => Math.max(...r.speaks) === 4)!.commit;
const INTERVAL_MS = 200;

test(
  'keyring, protocol 4 and 5 agents mixed, through a key rotation: nobody convicted, 5 among the new, no genuine packet dropped as a replay',
  { skip: skipUnless(PROTOCOL_4_RELEASE, 'with the protocol 4 release'), timeout: 180_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-keyring-mixed-'));
    const keyFile = join(dir, 'keys');
    const [k1, k2] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
    writeFileSync(keyFile, `${k1}\n`);
    const ports = freePorts(12);
    const agents = Array.from(
      { length: 6 },
      (_, i) => new Agent(i, ports[2 * i] as number, ports[2 * i + 1] as number, INTERVAL_MS, ['--key-file', keyFile]),
    );
    const watcher = new Watcher(agents);
    t.after(() => {
      watcher.stop();
      for (const a of agents) a.kill();
      rmSync(dir, { recursive: true, force: true });
    });
    const oldAgent = join(unpackRelease(dir, PROTOCOL_4_RELEASE), 'dist', 'src', 'cli', 'main.js');
    // Old and new alternate, the first (everyone's seed) old.
    for (const a of agents)
      await a.start(
        a.i % 2 === 0 ? oldAgent : NEW_AGENT,
        a.i % 2 === 0 ? 'old' : 'new',
        a.i === 0 ? [] : [agents[0]!.port],
      );
    await waitFor(() => consistent(agents), 20_000, 'the mixed keyring cluster converged');
    watcher.start();
    for (const a of agents) await a.set('written', `by-${a.id}`);
    await waitFor(() => consistent(agents), 10_000, 'writes seen everywhere');

    for (const ring of [[k1, k2], [k2, k1], [k2]]) {
      writeFileSync(keyFile, `${ring.join('\n')}\n`);
      for (const a of agents) a.proc!.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 10 * INTERVAL_MS));
      for (const a of agents) await a.set('ring', String(ring.length));
      await waitFor(
        () => consistent(agents),
        15_000,
        `consistent with the ring ${ring.length === 1 ? '[k2]' : ring[0] === k1 ? '[k1, k2]' : '[k2, k1]'}`,
      );
      assert.deepEqual(watcher.convictions, [], 'no conviction');
    }

    const news = agents.filter((a) => a.build === 'new');
    const counts = await Promise.all(news.map((a) => a.stats()));
    for (const [i, s] of counts.entries()) {
      const id = news[i]!.id;
      assert.ok(
        // This tree's newest protocol (5 or later: every one from 5 on keeps the replay window).
        (s.packetsInByVersion?.[String(PROTOCOL_VERSION)] ?? 0) > 50,
        `${id} heard the other new agents in ${PROTOCOL_VERSION}: ${JSON.stringify(s.packetsInByVersion)}`,
      );
      assert.ok(
        (s.packetsInByVersion?.['4'] ?? 0) > 50,
        `${id} heard the old agents in 4: ${JSON.stringify(s.packetsInByVersion)}`,
      );
      assert.equal(
        (s.dropped['envelope:replayed'] ?? 0) + (s.dropped['envelope:below-window'] ?? 0),
        0,
        `${id} dropped no genuine packet as a replay: ${JSON.stringify(s.dropped)}`,
      );
    }
    assert.deepEqual(watcher.convictions, [], 'no member that was up was ever convicted');
    t.diagnostic(
      `new agents' packets in by version: ${counts.map((s) => JSON.stringify(s.packetsInByVersion)).join(' ')}`,
    );
  },
);

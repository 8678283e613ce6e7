/**
 * A node alone in mode 7 and its seed (docs/design/liveness-7.md, "Left" item 1): at a mass join the seed's socket
 * queue, not its CPU, decides how fast joiners get in, and each packet a lone joiner sends it is answered and
 * acknowledged. Two cores driven by hand, the seed answering the joiner as the runtime answers a stranger (within
 * 3 times the request), only its SYN-ACK7s reaching the joiner and the joiner's acknowledgements lost, so that the
 * joiner stays alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScuttlebuttCore } from '../../src/core/core.js';
import type { CoreMessage, Outbound } from '../../src/core/types.js';
import { coreMessageBytes } from '../../src/wire/any.js';
import { ENVELOPE_HEADER_BYTES } from '../../src/wire/protocol.js';
import { core7, INTERVAL } from './core7-node.js';

const node = (i: number, now: number): ScuttlebuttCore => core7(i, now, 'lone7', 0, 17);

test('mode 7: a node alone stops sending a protocol-6 SYN beside its SYN7 to a seed that answers SYN7', () => {
  let now = 1_000_000;
  const seed = node(0, now);
  const joiner = node(1, now);
  const seedAddress = '10.0.0.1:7946';
  const joinerAddress = '10.0.0.2:7946';
  joiner.setSeeds([seedAddress]);
  assert.equal(seed.livenessMode, 7, 'a node alone with no hold runs mode 7');
  assert.equal(joiner.livenessMode, 7);
  const toSeed: string[][] = [];
  for (let round = 0; round < 6; round++) {
    now += INTERVAL;
    const sent: string[] = [];
    let queue: Outbound[] = joiner.tick(now).filter((o) => o.to === seedAddress);
    // The joiner's messages to the seed and the seed's answers, until nothing is left: what the joiner sends the
    // seed is counted, and its ACK and ACK7 are lost (the seed never admits it, so it stays alone).
    while (queue.length > 0) {
      const next: Outbound[] = [];
      for (const o of queue) {
        const type = (o.message as CoreMessage).type;
        sent.push(type);
        if (type === 'ack' || type === 'ack7') continue;
        // The runtime's amplification cap (runtime/packets.ts): 3 times the request's packet, less the envelope.
        const packet = coreMessageBytes(o.message) + ENVELOPE_HEADER_BYTES;
        const replyBudget = 3 * packet - ENVELOPE_HEADER_BYTES;
        const answers = seed.receive(joinerAddress, o.message, now, { stranger: true, replyBudget });
        // Only the SYN-ACK7s reach the joiner: a protocol-6 SYN-ACK within the cap may introduce the seed.
        for (const a of answers.filter((x) => x.to === joinerAddress && x.message.type === 'synAck7'))
          next.push(...joiner.receive(seedAddress, a.message, now).filter((x) => x.to === seedAddress));
      }
      queue = next;
    }
    toSeed.push(sent);
  }
  assert.equal(joiner.snapshot().live.length, 1, 'the joiner is still alone');
  const syns = (r: string[]): number => r.filter((t) => t === 'syn').length;
  const syn7s = (r: string[]): number => r.filter((t) => t === 'syn7').length;
  assert.equal(syns(toSeed[0]!), 1, `the first round still sends a SYN (the seed may run mode 6): ${toSeed[0]}`);
  for (const r of toSeed.slice(1)) {
    assert.equal(syns(r), 0, `no SYN once the seed answered a SYN7: ${r}`);
    assert.equal(syn7s(r), 1, `one SYN7 a round: ${r}`);
  }
});

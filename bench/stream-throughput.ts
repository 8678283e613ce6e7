/**
 * `node dist/bench/stream-throughput.js [--members N] [--frame-bytes B] [--runs R]`: how long the TCP
 * stream (runtime/stream.ts) takes to carry a whole state on loopback, sealed as the runtime seals it
 * (AES-256-GCM keyring, DEFLATE when it helps). The state is N synthetic introductions of about 160 B
 * (docs/design/liveness-7.md, "The stream": 1.6 MB at 10,000 members), shaped like the real ones:
 * random refs, commitments and public keys (incompressible), identities and keys as text. They are packed
 * into bodies of up to B bytes less the envelope, sent, and timed from connect to both sides ending.
 * Prints the median and best of R runs, in ms and MB/s of state (not of wire bytes), and the wire bytes.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { MAX_ENVELOPE_OVERHEAD, MAX_UDP_PAYLOAD } from '../src/wire/envelope-sizes.js';
import { FrameSealer } from '../src/transport/frames.js';
import { StreamClient, StreamServer, type StreamHandler } from '../src/runtime/stream.js';

function introduction(i: number): Uint8Array {
  const text = new TextEncoder();
  const parts = [
    randomBytes(6), // ref
    Uint8Array.of(0x05), // flags
    // An identity of about 45 B: id, generation, address.
    text.encode(
      `node-${String(i).padStart(5, '0')}.rack${i % 40}-${randomBytes(4).toString('hex')}@10.${i >> 8}.${i & 255}.7:7946`,
    ),
    randomBytes(16), // commitment
    randomBytes(32), // public key
    randomBytes(5), // incarnation, GC, versions, count (varints)
    text.encode('\u0000speaks7\u0000ready1'),
    // Two application keys with their values, about 40 B.
    text.encode(`role=web-frontend;zone=eu-west-1${'abc'[i % 3]};v=1.${i % 17}`),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Introductions packed into bodies of at most `budget` bytes each. */
function pack(records: readonly Uint8Array[], budget: number): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = (): void => {
    const b = new Uint8Array(size);
    let o = 0;
    for (const r of batch) {
      b.set(r, o);
      o += r.length;
    }
    bodies.push(b);
    batch = [];
    size = 0;
  };
  for (const r of records) {
    if (size + r.length > budget) flush();
    batch.push(r);
    size += r.length;
  }
  if (size > 0) flush();
  return bodies;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      members: { type: 'string', default: '10000' },
      'frame-bytes': { type: 'string', default: String(MAX_UDP_PAYLOAD) },
      runs: { type: 'string', default: '7' },
    },
  });
  const members = Number(values.members);
  const frameBytes = Number(values['frame-bytes']);
  const runs = Number(values.runs);
  const envelope = { keys: [randomBytes(32)], compress: true, maxPacketBytes: frameBytes };
  const records = Array.from({ length: members }, (_, i) => introduction(i));
  const stateBytes = records.reduce((n, r) => n + r.length, 0);
  const bodies = pack(records, frameBytes - MAX_ENVELOPE_OVERHEAD);

  let received = 0;
  let wire = 0;
  const server = new StreamServer({
    envelope: () => envelope,
    limits: { peerIntervalMs: 0, maxFrames: bodies.length + 2 },
    admit: () => true,
    accept: (session) => ({
      body: (b) => void (received += b.length),
      end: () => session.end(),
    }),
  });
  const address = await server.listen('127.0.0.1', 0);
  const client = new StreamClient({ envelope: () => envelope, limits: { peerIntervalMs: 0 } });
  const times: number[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      received = 0;
      let closed: (outcome: unknown) => void = () => undefined;
      const done = new Promise((resolve) => (closed = resolve));
      const handler: StreamHandler = { body: () => undefined, closed: (o) => closed(o) };
      const started = process.hrtime.bigint();
      const session = await client.connect(address, handler);
      for (const b of bodies) {
        session.send(b);
        await session.drained();
      }
      session.end();
      const outcome = await done;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (outcome !== null || received !== stateBytes) throw new Error(`run ${run}: ${String(outcome)}, ${received} B`);
      times.push(ms);
    }
    // Bytes on the wire of one run: the frames as sealed, prefixes included (outside the timed runs).
    const sealer = new FrameSealer();
    wire = bodies.reduce((n, b) => n + sealer.seal(b, envelope).length, 0);
  } finally {
    client.close();
    await server.close();
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] as number;
  const best = times[0] as number;
  const mb = stateBytes / 1e6;
  console.log(
    JSON.stringify({
      members,
      stateBytes,
      frames: bodies.length,
      frameBytes,
      wireBytes: wire,
      runs,
      medianMs: +median.toFixed(1),
      bestMs: +best.toFixed(1),
      medianMBps: +(mb / (median / 1000)).toFixed(1),
      bestMBps: +(mb / (best / 1000)).toFixed(1),
    }),
  );
}

await main();

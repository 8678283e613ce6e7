/**
 * The TCP stream over real sockets on 127.0.0.1: it binds beside the UDP socket, carries a large state
 * intact and in order, and every bound refuses, counted by its reason: truncated and over-long frames,
 * a wrong key, a frame replayed from UDP or another stream, a third inbound stream, a second stream from
 * one address, an address not admitted, idle and total timeouts (shortened), too many frames or bytes.
 * Clients connect from 127.0.0.2 and 127.0.0.3 as well where the per-address interval must not interfere.
 * Run under the heavy lock (it opens sockets).
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { bindUdp } from '../../src/transport/udp.js';
import { seal, type EnvelopeOptions } from '../../src/transport/envelope.js';
import { encodeFrame, FrameSealer } from '../../src/transport/frames.js';
import { NonceSequence } from '../../src/transport/replay.js';
import {
  StreamClient,
  StreamError,
  StreamServer,
  type StreamHandler,
  type StreamLimits,
  type StreamRefusal,
  type StreamSession,
} from '../../src/runtime/stream.js';

/** What a test opened, closed after it whatever its outcome: an open socket would keep the process alive. */
const opened: { close(): void }[] = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

const KEY = new Uint8Array(16).fill(5);
const OTHER_KEY = new Uint8Array(16).fill(6);
const ENVELOPE: EnvelopeOptions = { keys: [KEY], compress: true, maxPacketBytes: 9000 };

type Outcome = StreamRefusal | 'aborted' | null;

interface Collected {
  readonly handler: StreamHandler;
  readonly bodies: Uint8Array[];
  ended: boolean;
  readonly closed: Promise<Outcome>;
}

function collector(onEnd?: () => void): Collected {
  let done: (o: Outcome) => void = () => undefined;
  const c: Collected = {
    bodies: [],
    ended: false,
    closed: new Promise<Outcome>((resolve) => (done = resolve)),
    handler: {
      body: (b) => void c.bodies.push(Uint8Array.from(b)),
      end: () => {
        c.ended = true;
        onEnd?.();
      },
      closed: (o) => done(o),
    },
  };
  return c;
}

interface Served {
  readonly server: StreamServer;
  readonly address: string;
  /** One per accepted stream, in order; `session` to answer on it. */
  readonly streams: { readonly session: StreamSession; readonly got: Collected }[];
  readonly refused: { reason: StreamRefusal; peer: string }[];
  readonly admitted: string[];
}

async function serve(
  opts: { limits?: Partial<StreamLimits>; admit?: (host: string) => boolean; keys?: Uint8Array[]; port?: number } = {},
): Promise<Served> {
  const streams: Served['streams'][number][] = [];
  const refused: Served['refused'] = [];
  const admitted: string[] = [];
  const envelope = { ...ENVELOPE, keys: opts.keys ?? ENVELOPE.keys };
  const server = new StreamServer({
    envelope: () => envelope,
    limits: opts.limits,
    onRefuse: (reason, peer) => void refused.push({ reason, peer }),
    admit: (host) => {
      admitted.push(host);
      return opts.admit?.(host) ?? true;
    },
    accept: (session) => {
      const got = collector();
      streams.push({ session, got });
      return got.handler;
    },
  });
  const address = await server.listen('127.0.0.1', opts.port ?? 0);
  return { server, address, streams, refused, admitted };
}

function client(opts: { limits?: Partial<StreamLimits>; keys?: Uint8Array[]; localHost?: string } = {}): StreamClient {
  const envelope = { ...ENVELOPE, keys: opts.keys ?? ENVELOPE.keys };
  const c = new StreamClient({ envelope: () => envelope, limits: opts.limits, localHost: opts.localHost });
  opened.push(c);
  return c;
}

/** A raw TCP connection, for bytes no StreamClient would send. */
async function raw(address: string, localAddress = '127.0.0.1'): Promise<Socket> {
  const [host, port] = address.split(':') as [string, string];
  const s = connect({ host, port: Number(port), localAddress });
  s.on('error', () => undefined);
  opened.push({ close: () => s.destroy() });
  await new Promise((resolve) => s.once('connect', resolve));
  return s;
}

/**
 * Connects where the server will refuse: its reset may come before the client saw the connection
 * complete (then connect() rejects), or after (then the session is cut): either is a refusal here.
 */
async function refusedConnect(c: StreamClient, address: string, handler: StreamHandler): Promise<StreamSession | null> {
  try {
    return await c.connect(address, handler);
  } catch (err) {
    assert.ok(err instanceof StreamError && err.reason === 'stream-connect-failed', String(err));
    return null;
  }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

function reasons(s: Served): StreamRefusal[] {
  return s.refused.map((r) => r.reason);
}

test('the stream server binds TCP at the UDP socket host and port; a second listener there is refused', async () => {
  const udp = await bindUdp('127.0.0.1', 0);
  const port = Number(udp.address.split(':')[1]);
  const s = await serve({ port });
  try {
    assert.equal(s.address, udp.address, 'same host, same port number');
    await assert.rejects(serve({ port }), { code: 'SB_ERR_BIND' });
    // Both sockets work: a UDP datagram and a stream on the one port number.
    const heard = new Promise<Uint8Array>((resolve) => udp.onPacket((b) => resolve(b)));
    const other = await bindUdp('127.0.0.1', 0);
    await other.send(Uint8Array.of(1, 2, 3), '127.0.0.1', port);
    assert.deepEqual([...(await heard)], [1, 2, 3]);
    await other.close();
    const c = client();
    const mine = collector();
    const session = await c.connect(udp.address, mine.handler);
    session.send(Uint8Array.of(9));
    session.end();
    await until(() => s.streams[0]?.got.ended === true);
    s.streams[0]?.session.end();
    assert.equal(await mine.closed, null);
    assert.equal(await s.streams[0]?.got.closed, null);
  } finally {
    await s.server.close();
    await udp.close();
  }
});

test('a 2 MB state crosses in frames, intact and in order, both ways, and the stream closes clean', async () => {
  const s = await serve();
  try {
    // Incompressible and compressible bodies mixed, sized up to the frame limit less the envelope.
    const state: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; total < 2 * 1024 * 1024; i++) {
      const n = 1 + ((i * 7919) % 8900);
      const b = i % 2 ? randomBytes(n) : new Uint8Array(n).fill(i & 255);
      state.push(b);
      total += n;
    }
    const reply = [Uint8Array.of(1), randomBytes(5000)];
    const c = client();
    const mine = collector();
    const session = await c.connect(s.address, mine.handler);
    for (const b of state) {
      assert.ok(session.send(b));
      await session.drained();
    }
    session.end();
    await until(() => s.streams[0]?.got.ended === true, 10_000);
    const theirs = s.streams[0] as Served['streams'][number];
    for (const b of reply) theirs.session.send(b);
    theirs.session.end();
    assert.equal(await mine.closed, null);
    assert.equal(await theirs.got.closed, null);
    assert.equal(theirs.got.bodies.length, state.length);
    theirs.got.bodies.forEach((b, i) => assert.deepEqual(b, Uint8Array.from(state[i] as Uint8Array), `body ${i}`));
    assert.deepEqual(
      mine.bodies,
      reply.map((b) => Uint8Array.from(b)),
    );
    assert.deepEqual(s.refused, []);
    assert.equal(s.server.active, 0);
    assert.equal(c.active, 0);
  } finally {
    await s.server.close();
  }
});

test('a stream closed in the middle of a frame is reported truncated; nothing past the last whole frame arrives', async () => {
  const s = await serve();
  try {
    const sock = await raw(s.address);
    const sealer = new FrameSealer();
    const frames = [1, 2, 3].map((i) => sealer.seal(new Uint8Array(500).fill(i), ENVELOPE));
    sock.write(frames[0] as Uint8Array);
    sock.write(frames[1] as Uint8Array);
    // All but the last 10 bytes of the third frame (its body compresses: it is shorter than 500).
    sock.write((frames[2] as Uint8Array).subarray(0, (frames[2] as Uint8Array).length - 10));
    await until(() => s.streams[0]?.got.bodies.length === 2);
    sock.end();
    const got = (s.streams[0] as Served['streams'][number]).got;
    assert.equal(await got.closed, 'stream-truncated');
    assert.equal(got.ended, false, 'the peer did not finish: no end is reported');
    assert.deepEqual(
      got.bodies.map((b) => b[0]),
      [1, 2],
    );
    assert.deepEqual(reasons(s), ['stream-truncated']);
  } finally {
    await s.server.close();
  }
});

test('a length prefix above the frame limit closes the stream at once', async () => {
  const s = await serve({ limits: { idleMs: 3000 } });
  try {
    const sock = await raw(s.address);
    const gone = new Promise((resolve) => sock.once('close', resolve));
    sock.write(new FrameSealer().seal(new Uint8Array(100), ENVELOPE));
    await until(() => s.streams[0]?.got.bodies.length === 1);
    const started = Date.now();
    // 96 MiB announced, then nothing: a reader that waited for (or allocated) the frame would sit idle.
    sock.write(Uint8Array.of(0x06, 0, 0, 0));
    assert.equal(await (s.streams[0] as Served['streams'][number]).got.closed, 'stream-frame-too-big');
    assert.ok(Date.now() - started < 1000, `refused in ${Date.now() - started} ms, before the idle timeout`);
    await gone;
    assert.deepEqual(reasons(s), ['stream-frame-too-big']);
  } finally {
    await s.server.close();
  }
});

test('a frame under the wrong key is refused, and so is a UDP packet or another stream replayed as a frame', async () => {
  const s = await serve({ limits: { peerIntervalMs: 0 } });
  try {
    // A client with another key: its first frame closes the stream, nothing delivered.
    const wrong = client({ keys: [OTHER_KEY] });
    const w = collector();
    (await wrong.connect(s.address, w.handler)).send(new Uint8Array(100));
    await until(() => s.refused.length === 1);
    assert.deepEqual(reasons(s), ['stream-bad-frame']);
    assert.deepEqual(s.streams[0]?.got.bodies, []);
    // A UDP packet with the right key, written as a frame: not a stream's opening frame.
    const udp = new NonceSequence();
    seal(new Uint8Array(10), ENVELOPE, { sequence: udp });
    const sock = await raw(s.address);
    sock.write(encodeFrame(seal(new Uint8Array(10), ENVELOPE, { sequence: udp })));
    await until(() => s.refused.length === 2);
    // A genuine stream's opening frame, recorded and replayed on a new connection.
    const first = new FrameSealer().seal(new Uint8Array(10), ENVELOPE);
    const a = await raw(s.address);
    a.write(first);
    await until(() => s.streams[2]?.got.bodies.length === 1);
    const b = await raw(s.address, '127.0.0.2');
    b.write(first);
    await until(() => s.refused.length === 3);
    assert.deepEqual(reasons(s), ['stream-bad-frame', 'stream-bad-frame', 'stream-bad-frame']);
    assert.deepEqual(s.streams[1]?.got.bodies, []);
    assert.deepEqual(s.streams[3]?.got.bodies, []);
    a.destroy();
  } finally {
    await s.server.close();
  }
});

test('a third inbound stream at a time is refused busy; one outbound at a time', async () => {
  const s = await serve();
  const clients = ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((localHost) => client({ localHost }));
  try {
    const sessions: StreamSession[] = [];
    for (const c of clients.slice(0, 2)) {
      const session = await c.connect(s.address, collector().handler);
      session.send(Uint8Array.of(1));
      sessions.push(session);
    }
    await until(() => s.streams.every((x) => x.got.bodies.length === 1) && s.streams.length === 2);
    const third = collector();
    const late = await refusedConnect(clients[2] as StreamClient, s.address, third.handler);
    late?.send(Uint8Array.of(3));
    await until(() => s.refused.length === 1);
    assert.deepEqual(s.refused, [{ reason: 'stream-busy', peer: s.refused[0]?.peer }]);
    assert.match(s.refused[0]?.peer ?? '', /^127\.0\.0\.3:\d+$/);
    assert.equal(s.streams.length, 2, 'the third was never accepted');
    assert.equal(s.server.active, 2);
    // The refused client hears a reset (at connect, or as the stream's end), not a stream that ended.
    if (late) assert.equal(await third.closed, 'stream-socket-error');
    assert.equal(third.ended, false);
    // Outbound: the first client holds its one stream; a second connect is refused at once.
    await assert.rejects((clients[0] as StreamClient).connect(s.address, collector().handler), {
      code: 'SB_ERR_STREAM',
      reason: 'stream-busy',
    });
    assert.equal(clients[0]?.refusals['stream-busy'], 1);
    for (const x of sessions) x.close();
    late?.close();
  } finally {
    await s.server.close();
  }
});

test('one stream per peer address per interval, each way', async () => {
  const s = await serve();
  try {
    const c = client({ limits: { peerIntervalMs: 0 } });
    const first = await c.connect(s.address, collector().handler);
    first.send(Uint8Array.of(1));
    await until(() => s.streams[0]?.got.bodies.length === 1);
    // Cut by the client (the server counts the reset): one slot of two in use at most.
    first.close();
    // Only the interval refuses the next from 127.0.0.1 ...
    const again = collector();
    (await refusedConnect(c, s.address, again.handler))?.send(Uint8Array.of(2));
    await until(() => s.refused.length === 2);
    assert.deepEqual(reasons(s).sort(), ['stream-rate', 'stream-socket-error']);
    assert.equal(s.streams.length, 1);
    // ... while another address is taken.
    const elsewhere = client({ localHost: '127.0.0.2' });
    (await elsewhere.connect(s.address, collector().handler)).send(Uint8Array.of(3));
    await until(() => s.streams.length === 2);
    elsewhere.close();
    // The client keeps the interval to each destination too.
    const once = client();
    // (The server refuses this one too: 127.0.0.1 began a stream within its interval.)
    (await refusedConnect(once, s.address, collector().handler))?.close();
    await assert.rejects(once.connect(s.address, collector().handler), {
      code: 'SB_ERR_STREAM',
      reason: 'stream-rate',
    });
    c.close();
  } finally {
    await s.server.close();
  }
});

test('a stranger gets a stream only when admitted', async () => {
  const s = await serve({ admit: (host) => host === '127.0.0.2' });
  try {
    (await refusedConnect(client(), s.address, collector().handler))?.send(Uint8Array.of(1));
    await until(() => s.refused.length === 1);
    assert.deepEqual(reasons(s), ['stream-not-admitted']);
    assert.equal(s.streams.length, 0);
    const admitted = client({ localHost: '127.0.0.2' });
    (await admitted.connect(s.address, collector().handler)).send(Uint8Array.of(2));
    await until(() => s.streams[0]?.got.bodies.length === 1);
    assert.deepEqual(s.admitted, ['127.0.0.1', '127.0.0.2'], 'admit is asked with the peer IP');
    admitted.close();
  } finally {
    await s.server.close();
  }
});

test('a stream silent for the idle timeout is closed', async () => {
  const s = await serve({ limits: { idleMs: 300, totalMs: 5000 } });
  try {
    const sock = await raw(s.address);
    sock.write(new FrameSealer().seal(new Uint8Array(10), ENVELOPE));
    const started = Date.now();
    assert.equal(await until(() => s.streams.length === 1).then(() => s.streams[0]?.got.closed), 'stream-idle');
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `closed after ${took} ms`);
    assert.deepEqual(reasons(s), ['stream-idle']);
  } finally {
    await s.server.close();
  }
});

test('a stream that keeps talking is still closed at the total timeout', async () => {
  const s = await serve({ limits: { idleMs: 300, totalMs: 800 } });
  try {
    const c = client();
    const mine = collector();
    const session = await c.connect(s.address, mine.handler);
    const started = Date.now();
    // A frame every 100 ms keeps the idle timer fresh on both sides.
    const talker = setInterval(() => session.send(Uint8Array.of(1)), 100);
    try {
      await until(() => s.streams.length === 1);
      const closed = s.streams[0]?.got.closed;
      assert.equal(await Promise.race([closed, sleep(3000).then(() => 'still open')]), 'stream-too-long');
    } finally {
      clearInterval(talker);
    }
    const took = Date.now() - started;
    assert.ok(took >= 700 && took < 2500, `closed after ${took} ms`);
    assert.ok((s.streams[0]?.got.bodies.length ?? 0) >= 4, 'the idle timer did not fire: frames kept coming');
    assert.deepEqual(reasons(s), ['stream-too-long']);
    c.close();
  } finally {
    await s.server.close();
  }
});

test('at most maxFrames frames and maxBytes bytes a stream, received or sent', async () => {
  const s = await serve({ limits: { maxFrames: 5, maxBytes: 10_000, peerIntervalMs: 0 } });
  try {
    const c = client({ limits: { peerIntervalMs: 0 } });
    const many = await c.connect(s.address, collector().handler);
    for (let i = 0; i < 6; i++) many.send(Uint8Array.of(i));
    assert.equal(await s.streams[0]?.got.closed, 'stream-too-many-frames');
    assert.equal(s.streams[0]?.got.bodies.length, 5);
    many.close();
    const big = await c.connect(s.address, collector().handler);
    for (let i = 0; i < 3; i++) big.send(randomBytes(4000));
    await until(() => s.streams.length === 2);
    assert.equal(await s.streams[1]?.got.closed, 'stream-too-many-bytes');
    assert.equal(s.streams[1]?.got.bodies.length, 2);
    assert.deepEqual(reasons(s), ['stream-too-many-frames', 'stream-too-many-bytes']);
    big.close();
    // The sending side holds itself to its own bounds.
    const own = client({ limits: { maxFrames: 2 } });
    const mine = collector();
    const session = await own.connect(s.address, mine.handler);
    assert.deepEqual(
      [1, 2, 3].map(() => session.send(Uint8Array.of(0))),
      [true, true, false],
    );
    assert.equal(await mine.closed, 'stream-too-many-frames');
  } finally {
    await s.server.close();
  }
});

test('a body that would seal above the frame limit throws, and an unreachable peer is a StreamError', async () => {
  const s = await serve();
  try {
    const c = client();
    const mine = collector();
    const session = await c.connect(s.address, mine.handler);
    assert.throws(() => session.send(randomBytes(9000)), { code: 'SB_ERR_INVALID_ARG' });
    assert.equal(await mine.closed, 'stream-frame-too-big');
    const port = Number(s.address.split(':')[1]);
    await s.server.close();
    await assert.rejects(client().connect(`127.0.0.1:${port}`, collector().handler), (err: unknown) => {
      assert.ok(err instanceof StreamError);
      assert.equal(err.reason, 'stream-connect-failed');
      return true;
    });
  } finally {
    await s.server.close();
  }
});

/**
 * The TCP stream for big state (docs/design/liveness-7.md, "The stream"): a joiner's first sync, a
 * drill-down too large for a packet, a heal. TCP on the gossip port number (the same host and port as
 * the UDP socket), frames of transport/frames.ts (a 4-byte length, one sealed envelope as on UDP, each
 * stream with its own nonce stream and replay state). The bodies are opaque here: the core writes and
 * reads them through {@link StreamSession.send} and a {@link StreamHandler}.
 *
 * Every bound closes the stream at once and is counted by a stable reason ({@link StreamRefusal}),
 * handed to `onRefuse` so the runtime counts and logs it beside its dropped packets. Bounds keep a
 * stream's cost to this node small and known: memory (one frame of at most `maxPacketBytes` buffered,
 * `maxBytes` a stream), sockets (`maxInbound` + `maxOutbound`), and time (`idleMs`, `totalMs`).
 * TCP's handshake proves the peer's address, so no amplification cap is needed beyond these; a
 * stranger is still taken only when `admit` says so (the runtime answered its UDP SYN).
 *
 * A stream ends cleanly when each side has called end() after its last frame (TCP half-close, FIN at a
 * frame boundary); a refused or cut stream is reset, so the peer never takes a refusal for an end. The
 * handler's methods are called from socket events: they must not throw past `body` and `end` (which cut
 * the stream, 'stream-handler-failed') and never from `closed`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { EnvelopeError, type EnvelopeOptions } from '../transport/envelope.js';
import { FrameOpener, FrameReader, FrameSealer, FRAME_PREFIX_BYTES, SeenStreams } from '../transport/frames.js';
import type { ReplayWindows } from '../transport/replay.js';
import { PROTOCOL_VERSION, type ProtocolVersion } from '../wire/codec.js';
import { BindError, InvalidArgumentError } from '../errors.js';
import { DEFAULT_STREAM_LIMITS, StreamError, type StreamLimits, type StreamRefusal } from './stream-limits.js';
import { formatHostPort, parseHostPort } from './config.js';
import { monotonicNow } from './clock.js';

export {
  DEFAULT_STREAM_LIMITS,
  STREAM_IDLE_MS,
  STREAM_MAX_BYTES,
  STREAM_MAX_FRAMES,
  STREAM_MAX_INBOUND,
  STREAM_MAX_OUTBOUND,
  STREAM_PEER_INTERVAL_MS,
  STREAM_TOTAL_MS,
  StreamError,
  type StreamErrorReason,
  type StreamLimits,
  type StreamRefusal,
} from './stream-limits.js';

/** What hears one stream: its bodies in order, the peer's end, and how it closed. */
export interface StreamHandler {
  /** One frame's body, opened, in the order sent. Nothing after a refused or truncated frame is delivered. */
  body(body: Uint8Array, version: ProtocolVersion): void;
  /** The peer has sent its last frame (it half-closed at a frame boundary); this side may still send. */
  end?(): void;
  /**
   * Once, when the stream is gone: null when both sides ended cleanly, 'aborted' when this side closed it
   * with {@link StreamSession.close}, otherwise the refusal (already counted through `onRefuse`).
   */
  closed?(outcome: StreamRefusal | 'aborted' | null): void;
}

/** One open stream, as the core sees it. */
export interface StreamSession {
  /** The peer's TCP address, "host:port" (inbound: its ephemeral source port). */
  readonly peer: string;
  readonly direction: 'in' | 'out';
  /**
   * Seals and writes one body as one frame. False when the stream is closed (nothing sent) or when it
   * was just cut by a bound (too many frames or bytes). Throws InvalidArgumentError when the sealed body
   * exceeds `maxPacketBytes` (the caller sizes bodies as for a packet); the stream is cut then, counted
   * 'stream-frame-too-big', since the frame's nonce is spent and the peer would refuse the next one.
   */
  send(body: Uint8Array): boolean;
  /** Resolves when the socket's send buffer has drained (or the stream closed): await it between batches. */
  drained(): Promise<void>;
  /** This side has sent its last frame: half-closes the connection; the peer's frames still arrive. */
  end(): void;
  /** Closes the stream now, whatever is in flight ('aborted'; not counted as a refusal). */
  close(): void;
}

export interface StreamOptions {
  /** Keys, compression and `maxPacketBytes` (the frame limit): read at each frame, so a key rotation applies. */
  readonly envelope: () => EnvelopeOptions;
  readonly limits?: Partial<StreamLimits>;
  /** The protocol version frames are sealed in (5 or later: numbered nonces). */
  readonly version?: ProtocolVersion;
  /** Hears every refusal, with the peer's address: the runtime counts it (stats) and logs it. */
  readonly onRefuse?: (reason: StreamRefusal, peer: string) => void;
  /** The runtime's UDP replay windows: an opening frame of a nonce stream heard over UDP is refused. */
  readonly udpWindows?: Pick<ReplayWindows, 'knows'>;
  /** Monotonic ms, for the per-address interval (tests). */
  readonly now?: () => number;
}

/** Refusals counted by reason, on a server or a client. */
export type StreamRefusals = Partial<Record<StreamRefusal, number>>;

/** What both ends share: limits, counting, and the streams whose opening frames were seen. */
class StreamEnds {
  readonly limits: StreamLimits;
  readonly refusals: StreamRefusals = {};
  readonly seen = new SeenStreams();
  private readonly started = new Map<string, number>();
  private readonly now: () => number;

  constructor(readonly options: StreamOptions) {
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...options.limits };
    for (const [name, v] of Object.entries(this.limits))
      if (!(typeof v === 'number' && v >= 0)) throw new InvalidArgumentError(`stream limit ${name} must be >= 0`);
    if ((options.version ?? PROTOCOL_VERSION) < 5)
      throw new InvalidArgumentError('a stream is sealed in protocol 5 or later');
    this.now = options.now ?? monotonicNow;
  }

  refuse(reason: StreamRefusal, peer: string): void {
    this.refusals[reason] = (this.refusals[reason] ?? 0) + 1;
    this.options.onRefuse?.(reason, peer);
  }

  /** Whether `address` may start a stream now; if so, its interval starts. */
  takeTurn(address: string): boolean {
    const now = this.now();
    // Oldest first (re-inserted on each start): drop what has expired, so the map holds one interval's starts.
    for (const [a, at] of this.started) {
      if (now - at < this.limits.peerIntervalMs) break;
      this.started.delete(a);
    }
    if (this.started.has(address)) return false;
    this.started.set(address, now);
    return true;
  }
}

/** One stream over one socket: framing, sealing, opening, bounds, timers. */
class Stream implements StreamSession {
  private readonly reader: FrameReader;
  private readonly sealer: FrameSealer;
  private readonly opener: FrameOpener;
  private readonly idle: NodeJS.Timeout;
  private readonly total: NodeJS.Timeout;
  private framesIn = 0;
  private bytesIn = 0;
  private framesOut = 0;
  private bytesOut = 0;
  private peerEnded = false;
  private done = false;

  constructor(
    private readonly socket: Socket,
    readonly direction: 'in' | 'out',
    readonly peer: string,
    private readonly handler: StreamHandler,
    private readonly ends: StreamEnds,
    private readonly release: () => void,
  ) {
    const { limits, options } = ends;
    this.reader = new FrameReader(options.envelope().maxPacketBytes);
    this.sealer = new FrameSealer(options.version ?? PROTOCOL_VERSION);
    this.opener = new FrameOpener({ seen: ends.seen, udpWindows: options.udpWindows, own: this.sealer.nonces });
    this.idle = setTimeout(() => this.fail('stream-idle'), limits.idleMs);
    this.total = setTimeout(() => this.fail('stream-too-long'), limits.totalMs);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.peerEnd());
    socket.on('error', () => this.fail('stream-socket-error'));
    // This side's end() has flushed: the stream is clean once the peer has ended too.
    socket.on('finish', () => this.finishIfBothEnded());
    socket.on('close', () => {
      if (!this.done) this.fail('stream-truncated');
    });
  }

  send(body: Uint8Array): boolean {
    if (this.done || this.socket.writableEnded) return false;
    const opts = this.ends.options.envelope();
    const frame = this.sealer.seal(body, opts);
    if (frame.length - FRAME_PREFIX_BYTES > opts.maxPacketBytes) {
      this.fail('stream-frame-too-big');
      throw new InvalidArgumentError(
        `a sealed body of ${frame.length - FRAME_PREFIX_BYTES} bytes exceeds maxPacketBytes ${opts.maxPacketBytes}`,
      );
    }
    this.framesOut++;
    this.bytesOut += frame.length;
    if (this.framesOut > this.ends.limits.maxFrames) return this.fail('stream-too-many-frames');
    if (this.bytesOut > this.ends.limits.maxBytes) return this.fail('stream-too-many-bytes');
    this.socket.write(frame, () => this.idle.refresh());
    return true;
  }

  drained(): Promise<void> {
    if (this.done || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const go = (): void => {
        this.socket.off('drain', go);
        this.socket.off('close', go);
        resolve();
      };
      this.socket.on('drain', go);
      this.socket.on('close', go);
    });
  }

  end(): void {
    if (!this.done) this.socket.end();
  }

  close(): void {
    this.finish('aborted');
  }

  private receive(chunk: Uint8Array): void {
    if (this.done) return;
    this.idle.refresh();
    // Counted per whole frame (the reader holds at most one partial frame, within maxPacketBytes).
    const { frames, tooBig } = this.reader.push(chunk);
    for (const frame of frames) {
      if (++this.framesIn > this.ends.limits.maxFrames) return void this.fail('stream-too-many-frames');
      this.bytesIn += FRAME_PREFIX_BYTES + frame.length;
      if (this.bytesIn > this.ends.limits.maxBytes) return void this.fail('stream-too-many-bytes');
      let opened;
      try {
        opened = this.opener.open(frame, this.ends.options.envelope());
      } catch (err) {
        if (err instanceof EnvelopeError) return void this.fail('stream-bad-frame');
        throw err;
      }
      try {
        this.handler.body(opened.body, opened.version);
      } catch {
        return void this.fail('stream-handler-failed');
      }
      // The handler may have closed the stream: nothing more is delivered then.
      if (this.done) return;
    }
    if (tooBig !== undefined) this.fail('stream-frame-too-big');
  }

  private peerEnd(): void {
    if (this.done) return;
    // A partial frame at the peer's end: what was whole was delivered, the rest is refused.
    if (this.reader.partialBytes > 0) return void this.fail('stream-truncated');
    this.peerEnded = true;
    try {
      this.handler.end?.();
    } catch {
      return void this.fail('stream-handler-failed');
    }
    this.finishIfBothEnded();
  }

  private finishIfBothEnded(): void {
    if (this.peerEnded && this.socket.writableFinished) this.finish(null);
  }

  /** Cuts the stream for `reason`, counted; false, for send(). */
  private fail(reason: StreamRefusal): false {
    if (this.done) return false;
    // Counted before the handler hears it: a test (or the runtime) that reacts sees the count.
    this.ends.refuse(reason, this.peer);
    this.finish(reason);
    return false;
  }

  private finish(outcome: StreamRefusal | 'aborted' | null): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.idle);
    clearTimeout(this.total);
    // A cut stream is reset, not ended: the peer must not take a refusal for a stream that finished.
    if (outcome === null) this.socket.end();
    else this.socket.resetAndDestroy();
    this.release();
    this.handler.closed?.(outcome);
  }
}

export interface StreamServerOptions extends StreamOptions {
  /** Whether the peer at `host` (an IP; a TCP source port says nothing) may stream: a member, an answered stranger. */
  readonly admit: (host: string) => boolean;
  /** A stream was accepted: returns what hears it. */
  readonly accept: (session: StreamSession) => StreamHandler;
}

/** Listens on TCP at the gossip address and takes inbound streams within the bounds. */
export class StreamServer {
  private readonly ends: StreamEnds;
  private readonly open = new Set<Stream>();
  private server: Server | null = null;

  constructor(private readonly options: StreamServerOptions) {
    this.ends = new StreamEnds(options);
  }

  /** Refusals so far, by reason. */
  get refusals(): Readonly<StreamRefusals> {
    return this.ends.refusals;
  }

  /** Inbound streams open now. */
  get active(): number {
    return this.open.size;
  }

  /** Binds TCP `host:port` (the UDP socket's): rejects with BindError (`cause.code`: EADDRINUSE, ...). */
  async listen(host: string, port: number): Promise<string> {
    const bindHost = host === '' ? '0.0.0.0' : host;
    const server = createServer({ allowHalfOpen: true }, (socket) => this.connection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new BindError(`cannot bind TCP ${bindHost}:${port}: ${err.code ?? err.message}`, err)),
      );
      server.listen({ host: bindHost, port, exclusive: true }, () => resolve());
    });
    // Per-connection failures arrive on the sockets; a listening server's own errors are not fatal to the node.
    server.on('error', () => undefined);
    this.server = server;
    const bound = server.address();
    if (bound === null || typeof bound === 'string') return `${bindHost}:${port}`;
    return formatHostPort(bound.address, bound.port);
  }

  /** Stops listening and cuts every open stream ('aborted'). */
  async close(): Promise<void> {
    for (const s of [...this.open]) s.close();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private connection(socket: Socket): void {
    const host = unmapped(socket.remoteAddress ?? '');
    const peer = formatHostPort(host, socket.remotePort ?? 0);
    const refused = !this.options.admit(host)
      ? 'stream-not-admitted'
      : this.open.size >= this.ends.limits.maxInbound
        ? 'stream-busy'
        : !this.ends.takeTurn(host)
          ? 'stream-rate'
          : null;
    if (refused) {
      socket.on('error', () => undefined);
      // Reset: the peer sees 'stream-socket-error' at once, not an empty stream that ended.
      socket.resetAndDestroy();
      this.ends.refuse(refused, peer);
      return;
    }
    let stream: Stream | null = null;
    const session: StreamSession = {
      peer,
      direction: 'in',
      send: (body) => stream?.send(body) ?? false,
      drained: () => stream?.drained() ?? Promise.resolve(),
      end: () => stream?.end(),
      close: () => stream?.close(),
    };
    // The handler exists before the first byte is read: bodies may arrive in the same tick.
    const handler = this.options.accept(session);
    stream = new Stream(socket, 'in', peer, handler, this.ends, () => this.open.delete(stream as Stream));
    this.open.add(stream);
  }
}

export interface StreamClientOptions extends StreamOptions {
  /** Source address of outbound connections: the gossip host, so the peer's `admit` sees the address it answered. */
  readonly localHost?: string;
}

/** Opens outbound streams within the bounds. */
export class StreamClient {
  private readonly ends: StreamEnds;
  private readonly open = new Set<Stream>();
  private connecting = 0;

  constructor(private readonly options: StreamClientOptions) {
    this.ends = new StreamEnds(options);
  }

  get refusals(): Readonly<StreamRefusals> {
    return this.ends.refusals;
  }

  /** Outbound streams open (or connecting) now. */
  get active(): number {
    return this.open.size + this.connecting;
  }

  /**
   * Connects to `to` ("host:port", the peer's gossip address) and resolves with the session once
   * connected. Rejects with StreamError: 'stream-busy' (`maxOutbound` open), 'stream-rate' (a stream to
   * `to` began within `peerIntervalMs`), 'stream-connect-failed', each counted; InvalidArgumentError
   * for a malformed address.
   */
  async connect(to: string, handler: StreamHandler): Promise<StreamSession> {
    const target = parseHostPort(to);
    if (!target) throw new InvalidArgumentError(`not a host:port address: ${to}`);
    if (this.active >= this.ends.limits.maxOutbound) {
      this.ends.refuse('stream-busy', to);
      throw new StreamError('stream-busy', `${this.active} outbound stream(s) open`);
    }
    if (!this.ends.takeTurn(to)) {
      this.ends.refuse('stream-rate', to);
      throw new StreamError(
        'stream-rate',
        `a stream to ${to} began less than ${this.ends.limits.peerIntervalMs} ms ago`,
      );
    }
    this.connecting++;
    let socket: Socket;
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = connect({
          host: target.host,
          port: target.port,
          allowHalfOpen: true,
          ...(this.options.localHost ? { localAddress: this.options.localHost } : {}),
        });
        const timer = setTimeout(
          () => s.destroy(new Error(`no answer within ${this.ends.limits.idleMs} ms`)),
          this.ends.limits.idleMs,
        );
        s.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        s.once('connect', () => {
          clearTimeout(timer);
          s.removeAllListeners('error');
          resolve(s);
        });
      });
    } catch (err) {
      this.ends.refuse('stream-connect-failed', to);
      throw new StreamError('stream-connect-failed', `cannot connect to ${to}: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      this.connecting--;
    }
    const stream: Stream = new Stream(socket, 'out', to, handler, this.ends, () => this.open.delete(stream));
    this.open.add(stream);
    return stream;
  }

  /** Cuts every open stream ('aborted'). */
  close(): void {
    for (const s of [...this.open]) s.close();
  }
}

/** An IPv4 peer seen by a dual-stack listener comes as ::ffff:a.b.c.d: the runtime knows it as a.b.c.d. */
function unmapped(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}

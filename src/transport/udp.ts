/** A UDP socket with promise-based bind, send and close, and clear bind errors. */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { BindError, ClosedError } from '../errors.js';

export interface UdpEndpoint {
  /** "host:port" actually bound. */
  readonly address: string;
  send(bytes: Uint8Array, host: string, port: number): Promise<void>;
  onPacket(handler: (bytes: Uint8Array, from: string) => void): void;
  onError(handler: (err: Error) => void): void;
  close(): Promise<void>;
}

const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export async function bindUdp(host: string, port: number): Promise<UdpEndpoint> {
  const bindHost = host === '' ? '0.0.0.0' : host;
  const socket: Socket = createSocket({ type: isIPv6(bindHost) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException): void => {
      socket.close();
      const why =
        err.code === 'EADDRINUSE'
          ? 'address already in use'
          : err.code === 'EADDRNOTAVAIL'
            ? 'no such local address'
            : err.code === 'EACCES'
              ? 'permission denied'
              : err.message;
      reject(new BindError(`cannot bind UDP ${bindHost}:${port}: ${why}`, err));
    };
    socket.once('error', fail);
    socket.bind(port, bindHost, () => {
      socket.off('error', fail);
      resolve();
    });
  });
  // Large buffers absorb bursts of digests from many peers; the kernel may cap them, which is fine.
  for (const set of [
    () => socket.setRecvBufferSize(SOCKET_BUFFER_BYTES),
    () => socket.setSendBufferSize(SOCKET_BUFFER_BYTES),
  ]) {
    try {
      set();
    } catch {
      /* capped by the kernel */
    }
  }
  const bound = socket.address();
  const address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  let closed = false;
  return {
    address,
    send: (bytes, toHost, toPort) =>
      new Promise((resolve, reject) => {
        if (closed) return reject(new ClosedError('the UDP socket is closed'));
        socket.send(bytes, toPort, toHost, (err) => (err ? reject(err) : resolve()));
      }),
    onPacket: (handler) =>
      socket.on('message', (msg, rinfo) =>
        handler(msg, rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`),
      ),
    onError: (handler) => socket.on('error', handler),
    close: () =>
      new Promise((resolve) => {
        if (closed) return resolve();
        closed = true;
        socket.close(() => resolve());
      }),
  };
}

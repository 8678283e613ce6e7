/**
 * The agent's local HTTP API (JSON) and its Prometheus endpoint. Bound to loopback by default:
 * it can change this node's metadata, so it is not for the network.
 */
import { createServer } from 'node:http';
import type { Scuttlebutt } from '../runtime/scuttlebutt.js';
import { parseHostPort } from '../runtime/config.js';
import { prometheusText } from './metrics.js';

export interface HttpApi {
  readonly address: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

export async function startHttpApi(node: Scuttlebutt, listen: string): Promise<HttpApi> {
  const { host, port } = parseHostPort(listen) as { host: string; port: number };
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown, type = 'application/json'): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(type === 'application/json' ? JSON.stringify(body) : String(body));
    };
    const url = new URL(req.url ?? '/', 'http://agent');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    try {
      if (req.method === 'GET' && url.pathname === '/members') return send(200, node.state());
      if (req.method === 'GET' && url.pathname === '/stats') return send(200, node.stats());
      if (req.method === 'GET' && url.pathname === '/metrics') return send(200, prometheusText(node), 'text/plain; version=0.0.4');
      if (parts[0] === 'kv' && req.method === 'GET' && parts.length === 3) {
        const state = node.state();
        const member = [...state.live, ...state.dead].find((m) => m.id === parts[1]);
        if (!member) return send(404, { error: `no member "${parts[1]}"` });
        const value = member.metadata[parts[2] as string];
        return value === undefined ? send(404, { error: `member "${parts[1]}" has no key "${parts[2]}"` }) : send(200, { value });
      }
      if (parts[0] === 'kv' && parts.length === 2 && (req.method === 'PUT' || req.method === 'DELETE')) {
        if (req.method === 'DELETE') {
          node.delete(parts[1] as string);
          return send(200, { ok: true });
        }
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => {
          body += chunk;
          if (body.length > MAX_BODY) req.destroy();
        });
        req.on('end', () => {
          try {
            node.set(parts[1] as string, body);
            send(200, { ok: true });
          } catch (err) {
            send(400, { error: (err as Error).message });
          }
        });
        return;
      }
      send(404, { error: `no route ${req.method} ${url.pathname}` });
    } catch (err) {
      send(500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot serve the HTTP API on ${listen}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const address = addr && typeof addr === 'object' ? `${addr.address}:${addr.port}` : listen;
  return { address, close: () => new Promise((r) => server.close(() => r())) };
}

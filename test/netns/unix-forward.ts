/**
 * Run inside a host's network namespace: forwards each connection made to a Unix socket to a TCP port
 * on that namespace's loopback. The test runs in another namespace and cannot reach the agent's HTTP
 * API (bound to 127.0.0.1 there) over the network, but the file system is shared, so a Unix socket
 * reaches across. Exits when its stdin closes (the test went away).
 * Usage: node unix-forward.js SOCKET_PATH PORT
 */
import { connect, createServer } from 'node:net';
import { rmSync } from 'node:fs';

const [path, port] = process.argv.slice(2) as [string, string];
rmSync(path, { force: true });
const server = createServer((client) => {
  const upstream = connect(Number(port), '127.0.0.1');
  client.pipe(upstream).pipe(client);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
});
server.listen(path, () => process.stdout.write('ready\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

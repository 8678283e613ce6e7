/**
 * The deployment files run as written: the agent starts with exactly the environment the Kubernetes
 * StatefulSet gives it (only the ports moved to free ones, the pod's fields filled in, and the Secret's
 * files made here), its probes answer on the manifest's paths, a change needs the Secret's token, and
 * the Dockerfile's HEALTHCHECK command passes against it (and fails once it is gone).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { killAll, spawnAgent, type Agent } from './agents.js';
import { freePorts } from '../runtime/procs.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const run = promisify(execFile);

/** The container's `env:` entries with a literal value, in order (valueFrom entries are the pod's fields). */
function manifestEnv(yaml: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const m of yaml.matchAll(/^\s*- name: (SCUTTLEBUTT_\w+)\n\s*value: (.+)$/gm))
    env.set(m[1] as string, (m[2] as string).trim());
  return env;
}

test('the Kubernetes manifest and the Dockerfile: the agent starts with their settings, probes answer, changes need the token', async () => {
  const yaml = readFileSync(join(DEPLOY, 'kubernetes', 'scuttlebutt.yaml'), 'utf8');
  const env = manifestEnv(yaml);
  for (const name of [
    'SCUTTLEBUTT_BIND',
    'SCUTTLEBUTT_HTTP',
    'SCUTTLEBUTT_KEY_FILE',
    'SCUTTLEBUTT_HTTP_TOKEN_FILE',
    'SCUTTLEBUTT_JOIN',
  ])
    assert.ok(env.has(name), `the manifest sets ${name}`);
  const mount = /mountPath: (\S+)/.exec(yaml)?.[1];
  assert.ok(
    mount &&
      env.get('SCUTTLEBUTT_KEY_FILE')?.startsWith(`${mount}/`) &&
      env.get('SCUTTLEBUTT_HTTP_TOKEN_FILE')?.startsWith(`${mount}/`),
    'the key and the token are files of the mounted Secret',
  );
  const secretKeys = /--from-literal=keyring=.*\n.*--from-literal=http-token=/.test(yaml);
  assert.ok(secretKeys, 'the manifest says how to create a Secret with both files');
  const probes = [...yaml.matchAll(/httpGet: \{ path: (\S+), port: http \}/g)].map((m) => m[1] as string);
  assert.deepEqual(probes.sort(), ['/health', '/ready']);

  const dir = mkdtempSync(join(tmpdir(), 'sb-deploy-'));
  const agents: Agent[] = [];
  try {
    // The Secret's two files, as `scuttlebutt keygen` makes them.
    const file = (path: string): string => join(dir, path.slice((mount as string).length + 1));
    writeFileSync(file(env.get('SCUTTLEBUTT_KEY_FILE') as string), `${randomBytes(32).toString('base64')}\n`);
    const token = randomBytes(32).toString('base64');
    writeFileSync(file(env.get('SCUTTLEBUTT_HTTP_TOKEN_FILE') as string), `${token}\n`);
    const [gossipPort, httpPort] = freePorts(2) as [number, number];
    const pod: Record<string, string> = { POD_NAME: 'scuttlebutt-0', POD_NAMESPACE: 'default', POD_IP: '127.0.0.1' };
    const given: NodeJS.ProcessEnv = {};
    for (const [name, value] of env) given[name] = value.replace(/\$\((\w+)\)/g, (_, v: string) => pod[v] ?? `$(${v})`);
    given.SCUTTLEBUTT_BIND = (given.SCUTTLEBUTT_BIND as string).replace(/:\d+$/, `:${gossipPort}`);
    given.SCUTTLEBUTT_ADVERTISE = (given.SCUTTLEBUTT_ADVERTISE as string).replace(/:\d+$/, `:${gossipPort}`);
    given.SCUTTLEBUTT_HTTP = (given.SCUTTLEBUTT_HTTP as string).replace(/:\d+$/, `:${httpPort}`);
    given.SCUTTLEBUTT_KEY_FILE = file(env.get('SCUTTLEBUTT_KEY_FILE') as string);
    given.SCUTTLEBUTT_HTTP_TOKEN_FILE = file(env.get('SCUTTLEBUTT_HTTP_TOKEN_FILE') as string);
    // No cluster DNS here: a server that refuses at once, so the SRV seed fails fast and is retried.
    given.SCUTTLEBUTT_DNS_SERVER = '127.0.0.1:1';
    // `args: ["agent"]` and nothing else: everything comes from the environment, as in the pod.
    assert.match(yaml, /args: \["agent"\]/);
    const a = await spawnAgent('scuttlebutt-0', [], given).catch((err: unknown) => {
      throw new Error(`the agent did not start with the manifest's environment: ${String(err)}`);
    });
    agents.push(a);
    const http = `127.0.0.1:${httpPort}`;
    assert.equal(a.http, `0.0.0.0:${httpPort}`);
    // Liveness passes; readiness waits for the Service's SRV name to resolve (here it never does: the
    // netns DNS test serves it for real), and says so.
    assert.equal((await fetch(`http://${http}/health`)).status, 200, 'the liveness probe passes');
    const ready = await fetch(`http://${http}/ready`);
    assert.equal(ready.status, 503);
    assert.match(
      ((await ready.json()) as { reason?: string }).reason ?? '',
      /knows no other live member yet \(seeds: srv\+_gossip\._udp\.scuttlebutt\.default\.svc/,
      'not ready, and the reason names the seed',
    );
    const members = (await (await fetch(`http://${http}/members`)).json()) as { self: { id: string; address: string } };
    assert.deepEqual(
      [members.self.id, members.self.address],
      ['scuttlebutt-0', `127.0.0.1:${gossipPort}`],
      "the pod's name and IP",
    );
    assert.equal(
      (await fetch(`http://${http}/kv/k`, { method: 'PUT', body: 'v' })).status,
      401,
      'a change without the token is refused',
    );
    assert.equal(
      (await fetch(`http://${http}/kv/k`, { method: 'PUT', body: 'v', headers: { authorization: `Bearer ${token}` } }))
        .status,
      200,
      "the Secret's token is the agent's",
    );

    // The Dockerfile's HEALTHCHECK, run as the image runs it (its environment has SCUTTLEBUTT_HTTP).
    const docker = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const check = /HEALTHCHECK[^\n]*\n\s*CMD (\[.*\])/.exec(docker)?.[1];
    assert.ok(check, 'the Dockerfile has a HEALTHCHECK CMD');
    const [cmd, ...cmdArgs] = JSON.parse(check) as string[];
    assert.equal(cmd, 'node');
    await run(process.execPath, cmdArgs, { env: { ...process.env, SCUTTLEBUTT_HTTP: `0.0.0.0:${httpPort}` } });
    a.proc.kill('SIGKILL');
    await a.exited;
    await assert.rejects(
      run(process.execPath, cmdArgs, { env: { ...process.env, SCUTTLEBUTT_HTTP: `0.0.0.0:${httpPort}` } }),
      'the HEALTHCHECK fails once the agent is gone',
    );
  } finally {
    killAll(agents);
    rmSync(dir, { recursive: true, force: true });
  }
});

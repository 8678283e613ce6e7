/**
 * The container image, built and run for real: deploy/test/build-image.sh builds deploy/Dockerfile with
 * podman, then three containers run from it the way the Kubernetes StatefulSet runs its pods (the
 * manifest's environment, its Secret mounted read-only with the same modes, its securityContext and
 * memory limit, the image's own user). They find each other through one DNS name that lists them all
 * (a podman network alias: the A record of the headless Service), pass the image's HEALTHCHECK and
 * /ready, leave gracefully on `podman stop` (peers see "left"), and a container killed with SIGKILL is
 * convicted by the failure detector ("suspected").
 *
 * Needs root, podman, runc, mmdebstrap, npm and the CNI dnsname plugin (.ci/setup-system.sh installs
 * them); skipped, saying why, without them, except under CI=true, where that is a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { EventStream, getJson, waitFor, type MemberJson } from '../cli/agents.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILD = join(ROOT, 'deploy', 'test', 'build-image.sh');
const IMAGE = 'localhost/scuttlebutt:test';
const PREFIX = 'sbc';
const inCi = process.env.CI === 'true';
const exec = promisify(execFile);

function which(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the containers cannot run here, or null when they can. */
function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (podman networks and the image build)';
  const missing = ['podman', 'runc', 'mmdebstrap', 'npm'].filter((t) => !which(t));
  if (!existsSync('/usr/lib/cni/dnsname'))
    missing.push('the CNI dnsname plugin (golang-github-containernetworking-plugin-dnsname)');
  return missing.length ? `needs ${missing.join(', ')} (.ci/setup-system.sh installs them)` : null;
}

const why = unavailable();

/** deploy/test/podman.sh's global flags and `podman run` ulimits. */
function podmanFlags(): { global: string[]; ulimits: string[] } {
  const [global = '', ulimits = ''] = execFileSync('bash', [join(ROOT, 'deploy', 'test', 'podman.sh')])
    .toString()
    .split('\n');
  return { global: global.split(' ').filter(Boolean), ulimits: ulimits.split(' ').filter(Boolean) };
}

/** The container's `env:` entries with a literal value, in order (valueFrom entries are the pod's fields). */
function manifestEnv(yaml: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const m of yaml.matchAll(/^\s*- name: (SCUTTLEBUTT_\w+)\n\s*value: (.+)$/gm))
    env.set(m[1] as string, (m[2] as string).trim());
  return env;
}

test(
  'the image: built from deploy/Dockerfile, three containers form a cluster through DNS, pass HEALTHCHECK and /ready, leave on SIGTERM, are convicted after SIGKILL',
  { skip: inCi ? false : (why ?? false), timeout: 20 * 60_000 },
  async (t) => {
    if (why) assert.fail(`cannot run the container test here (CI=true: this must not skip): ${why}`);
    const { global, ulimits } = podmanFlags();
    const podman = (args: string[], timeout = 60_000) =>
      exec('podman', [...global, ...args], { timeout, maxBuffer: 16 << 20 });
    const podmanOut = async (args: string[], timeout?: number) => (await podman(args, timeout)).stdout.trim();
    const started = Date.now();

    // Containers and networks left by a run of this test that died before cleaning up.
    const dead = (name: string): boolean => {
      const pid = Number(new RegExp(`^${PREFIX}-(\\d+)-`).exec(name)?.[1]);
      if (!pid) return false;
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    };
    for (const c of (await podmanOut(['ps', '--all', '--format', '{{.Names}}'])).split('\n').filter(dead))
      await podman(['rm', '--force', '--time', '0', c]).catch(() => {});
    for (const n of (await podmanOut(['network', 'ls', '--format', '{{.Name}}'])).split('\n').filter(dead))
      await podman(['network', 'rm', '--force', n]).catch(() => {});

    // The image, as a team without Docker Hub builds it.
    const built = await exec('bash', [BUILD, IMAGE], { timeout: 15 * 60_000, maxBuffer: 16 << 20 }).catch(
      (err: { stderr?: string }) => {
        throw new Error(`deploy/test/build-image.sh failed: ${err.stderr ?? String(err)}`);
      },
    );
    const figure = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(built.stdout)?.[1]);
    const size = figure('image-size-bytes');
    const baseSize = figure('base-size-bytes');
    assert.ok(size > baseSize && baseSize > 0, `sizes reported: ${built.stdout}`);
    t.diagnostic(
      `image ${(size / 1e6).toFixed(1)} MB (base ${(baseSize / 1e6).toFixed(1)} MB, the agent's layer ${((size - baseSize) / 1e6).toFixed(1)} MB); base ${figure('base-seconds')} s, build ${figure('build-seconds')} s`,
    );

    // What the image is: the Dockerfile's user, entrypoint and HEALTHCHECK (docker format keeps it).
    const [inspected] = JSON.parse(await podmanOut(['image', 'inspect', IMAGE])) as [
      { Config: { User?: string; Entrypoint?: string[] }; Healthcheck?: { Test?: string[] } },
    ];
    assert.equal(inspected.Config.User, 'node');
    assert.deepEqual(inspected.Config.Entrypoint, ['scuttlebutt']);
    assert.equal(inspected.Healthcheck?.Test?.[0], 'CMD', 'the image keeps the Dockerfile HEALTHCHECK');

    // Lean: no compiler, no build tree, the package's published files only, no dev dependency.
    const run = (script: string) =>
      podmanOut(['run', '--rm', '--network', 'none', ...ulimits, '--entrypoint', 'sh', IMAGE, '-c', script]);
    const contents = await run(
      'cd /usr/local/lib/node_modules/scuttlebutt-ts && ls -A; echo ---; ls -A dist; echo ---; ' +
        // Every installed package, nested ones included: its name is what follows the last node_modules/.
        "find node_modules -name package.json | sed -n 's#^.*node_modules/\\(\\(@[^/]*/\\)\\{0,1\\}[^/@][^/]*\\)/package.json$#\\1#p' | sort -u; echo ---; " +
        'for t in gcc cc c++ make python3 tsc; do command -v $t; done; ls -d /src 2>/dev/null; id -u',
    );
    const [files = '', dist = '', deps = '', rest = ''] = contents.split('---\n').map((s) => s.trim());
    assert.deepEqual(files.split('\n').sort(), [
      'CHANGELOG.md',
      'LICENSE',
      'README.md',
      'dist',
      'node_modules',
      'package.json',
    ]);
    assert.equal(dist, 'src', 'dist holds the library only (no tests)');
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const installed = deps.split('\n').filter(Boolean);
    assert.ok(
      installed.includes('pino') && installed.includes('prom-client'),
      `runtime dependencies installed: ${installed.join(', ')}`,
    );
    const runtime = new Set(
      Object.entries(lock.packages)
        .filter(([key, p]) => key && !p.dev)
        .map(([key]) => key.slice(key.lastIndexOf('node_modules/') + 13)),
    );
    for (const name of installed) assert.ok(runtime.has(name), `${name} is a runtime dependency in package-lock.json`);
    assert.equal(rest, '1000', 'no compiler, no build tree, and the image runs as uid 1000');

    // The Secret, as the kubelet mounts it: read-only, files 0440, group 1000 (fsGroup).
    const yaml = readFileSync(join(ROOT, 'deploy', 'kubernetes', 'scuttlebutt.yaml'), 'utf8');
    const env = manifestEnv(yaml);
    const mount = /mountPath: (\S+)/.exec(yaml)?.[1] as string;
    const secret = mkdtempSync(join(tmpdir(), 'sbc-secret-'));
    const token = randomBytes(32).toString('base64');
    for (const [file, text] of [
      [env.get('SCUTTLEBUTT_KEY_FILE') as string, randomBytes(32).toString('base64')],
      [env.get('SCUTTLEBUTT_HTTP_TOKEN_FILE') as string, token],
    ] as const) {
      assert.ok(file.startsWith(`${mount}/`), `${file} is in the mounted Secret`);
      const path = join(secret, file.slice(mount.length + 1));
      writeFileSync(path, `${text}\n`);
      chownSync(path, 0, 1000);
      chmodSync(path, 0o440);
    }
    chmodSync(secret, 0o755);

    const tag = `${PREFIX}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const network = tag;
    const names = [0, 1, 2].map((i) => `scuttlebutt-${i}`);
    const containers = names.map((n) => `${tag}-${n}`);
    const streams: EventStream[] = [];
    try {
      await podman(['network', 'create', network]);
      const subnet = await podmanOut([
        'network',
        'inspect',
        '--format',
        '{{range .Subnets}}{{.Subnet}}{{end}}',
        network,
      ]);
      const base = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(subnet)?.[1];
      assert.ok(base, `a /24 network (got ${subnet})`);
      const ips = names.map((_, i) => `${base}.${11 + i}`);

      // Every container at once (podManagementPolicy: Parallel), each with the manifest's environment and the
      // pod's fields filled in. The seed is the Service's name; podman's DNS serves A records, not SRV, so it is
      // the A-record form of the same Service (`NAME:9111`, docs/deploy.md) rather than `srv+`.
      const seed = `scuttlebutt:${/:(\d+)$/.exec(env.get('SCUTTLEBUTT_BIND') as string)?.[1]}`;
      const t0 = Date.now();
      await Promise.all(
        names.map((pod, i) => {
          const fields: Record<string, string> = { POD_NAME: pod, POD_NAMESPACE: 'default', POD_IP: ips[i] as string };
          const envArgs: string[] = [];
          for (const [k, v] of env)
            envArgs.push(
              '--env',
              `${k}=${k === 'SCUTTLEBUTT_JOIN' ? seed : v.replace(/\$\((\w+)\)/g, (_, f: string) => fields[f] ?? '')}`,
            );
          return podman([
            'run',
            '--detach',
            '--name',
            containers[i] as string,
            '--hostname',
            pod,
            '--network',
            network,
            '--ip',
            ips[i] as string,
            '--network-alias',
            'scuttlebutt',
            // The manifest's securityContext and memory limit.
            '--read-only',
            '--read-only-tmpfs=false',
            '--cap-drop',
            'all',
            '--security-opt',
            'no-new-privileges',
            '--memory',
            '256m',
            '--volume',
            `${secret}:${mount}:ro`,
            ...ulimits,
            ...envArgs,
            IMAGE,
            'agent',
          ]);
        }),
      );
      const http = ips.map((ip) => `${ip}:${/:(\d+)$/.exec(env.get('SCUTTLEBUTT_HTTP') as string)?.[1]}`);
      const live = async (i: number) => {
        try {
          return (await getJson<{ live: MemberJson[] }>(http[i] as string, '/members')).body.live
            .map((m) => m.id)
            .sort();
        } catch {
          return [];
        }
      };
      for (const i of [0, 1, 2])
        await waitFor(async () => (await live(i)).join() === names.join(), 60_000, `${names[i]} sees all three live`);
      const joinMs = Date.now() - t0;
      for (const i of [0, 1, 2])
        await waitFor(
          async () => (await fetch(`http://${http[i]}/ready`).catch(() => null))?.status === 200,
          30_000,
          `${names[i]} /ready is 200`,
        );
      const readyMs = Date.now() - t0;
      t.diagnostic(`join: all three see each other ${joinMs} ms after start, all ready at ${readyMs} ms`);

      // Each agent runs as the image's user, advertises the pod's IP, and the HEALTHCHECK passes.
      for (const [i, c] of containers.entries()) {
        assert.equal(await podmanOut(['exec', c, 'id', '-u']), '1000');
        const members = (await getJson<{ self: MemberJson }>(http[i] as string, '/members')).body;
        assert.equal(members.self.address, `${ips[i]}:9111`);
        await podman(['healthcheck', 'run', c]).catch((err: { stdout?: string; stderr?: string }) => {
          throw new Error(`the HEALTHCHECK fails in ${c}: ${err.stdout ?? ''} ${err.stderr ?? ''}`);
        });
      }
      // A change needs the Secret's token.
      assert.equal((await fetch(`http://${http[0]}/kv/role`, { method: 'PUT', body: 'x' })).status, 401);
      assert.equal(
        (
          await fetch(`http://${http[0]}/kv/role`, {
            method: 'PUT',
            body: 'x',
            headers: { authorization: `Bearer ${token}` },
          })
        ).status,
        200,
      );

      const events = [0, 1].map((i) => new EventStream(http[i] as string, '/events'));
      streams.push(...events);
      for (const s of events) assert.equal(await s.status, 200);
      const deadReasons = (s: EventStream, id: string) =>
        s.events.filter((e) => e.event === 'dead' && (e.data.node as MemberJson).id === id).map((e) => e.data.reason);

      // podman stop: SIGTERM to the agent (PID 1), which leaves and exits 0 well within the grace period.
      const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(yaml)?.[1]);
      const t1 = Date.now();
      await podman(['stop', '--time', String(grace), containers[2] as string], (grace + 30) * 1000);
      const stopMs = Date.now() - t1;
      assert.equal(
        await podmanOut(['inspect', '--format', '{{.State.ExitCode}}', containers[2] as string]),
        '0',
        'the agent exited 0 on SIGTERM',
      );
      assert.ok(stopMs < grace * 1000, `stopped in ${stopMs} ms, before podman's SIGKILL at ${grace} s`);
      for (const s of events)
        await waitFor(
          () => deadReasons(s, names[2] as string).length > 0,
          10_000,
          `${names[2]} seen dead after it left`,
        );
      for (const s of events)
        assert.deepEqual(
          deadReasons(s, names[2] as string),
          ['left'],
          'dead because it said so, not because it went silent',
        );
      const leftMs = Date.now() - t1;

      // SIGKILL: no leave; the failure detector convicts it.
      const t2 = Date.now();
      await podman(['kill', '--signal', 'KILL', containers[1] as string]);
      await waitFor(
        () => deadReasons(events[0] as EventStream, names[1] as string).length > 0,
        60_000,
        `${names[1]} convicted after SIGKILL`,
      );
      const detectMs = Date.now() - t2;
      assert.deepEqual(deadReasons(events[0] as EventStream, names[1] as string), ['suspected']);
      assert.deepEqual(await live(0), [names[0]]);
      t.diagnostic(
        `podman stop: exited in ${stopMs} ms, peers saw "left" ${leftMs} ms after the stop began; SIGKILL convicted after ${detectMs} ms; test wall time ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    } finally {
      for (const s of streams) s.close();
      for (const c of containers) await podman(['rm', '--force', '--time', '0', c]).catch(() => {});
      await podman(['network', 'rm', '--force', network]).catch(() => {});
      rmSync(secret, { recursive: true, force: true });
    }
  },
);

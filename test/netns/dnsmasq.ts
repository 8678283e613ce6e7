/**
 * A real DNS server for the test bed: dnsmasq inside one of its namespaces, authoritative for one
 * test zone from files in a temp dir. It reads no system file (no /etc/resolv.conf, /etc/hosts or
 * /etc/dnsmasq.conf), forwards nothing, and listens on its namespace address only, so neither the
 * machine's resolver nor its network sees it. A records live in a hosts file re-read on SIGHUP;
 * SRV records are static in dnsmasq, so changing them restarts it (as a DNS server reload would).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { waitFor } from '../runtime/procs.js';

export interface Zone {
  /** name -> IPv4 addresses (a name may have several: a headless Service). */
  readonly a: Readonly<Record<string, readonly string[]>>;
  /** SRV name -> [target, port] records. */
  readonly srv: Readonly<Record<string, readonly (readonly [string, number])[]>>;
}

export function dnsmasqMissing(): string | null {
  try {
    execFileSync('which', ['dnsmasq'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'needs dnsmasq (apt-get install dnsmasq-base; .ci/setup-system.sh does it)';
  }
}

const NETNS_ETC = '/etc/netns';

/**
 * Points a namespace's resolver at `servers`: `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf
 * over /etc/resolv.conf for the processes it starts. The machine's own /etc/resolv.conf is untouched.
 */
export function setNamespaceResolver(ns: string, servers: readonly string[]): void {
  mkdirSync(join(NETNS_ETC, ns), { recursive: true });
  writeFileSync(
    join(NETNS_ETC, ns, 'resolv.conf'),
    `${servers.map((s) => `nameserver ${s}`).join('\n')}\noptions timeout:1 attempts:2\n`,
  );
}

export function removeNamespaceResolver(ns: string): void {
  rmSync(join(NETNS_ETC, ns), { recursive: true, force: true });
}

/** Removes resolver dirs of earlier runs (namespace names "sbt-PID-...") whose process is gone. */
export function sweepStaleResolvers(): void {
  let names: string[] = [];
  try {
    names = readdirSync(NETNS_ETC);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /^sbt-(\d+)-/.exec(name)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      removeNamespaceResolver(name);
    }
  }
}

export class Dnsmasq {
  private readonly dir = mkdtempSync(join(tmpdir(), 'sb-dnsmasq-'));
  private child: ChildProcess | null = null;
  private lines: string[] = [];
  private srvKey = '';
  private stopped = false;

  constructor(
    readonly ns: string,
    readonly address: string,
    readonly domain: string,
  ) {
    chmodSync(this.dir, 0o755);
    process.once('exit', () => this.stop());
  }

  /** The log lines of the current process (stderr). */
  get log(): readonly string[] {
    return this.lines;
  }

  /** Serves `zone`: A changes by SIGHUP, SRV changes by a restart. Resolves once the server has it. */
  async serve(zone: Zone): Promise<void> {
    const hosts = Object.entries(zone.a).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`));
    writeFileSync(join(this.dir, 'hosts'), `${hosts.join('\n')}\n`);
    const srvLines = Object.entries(zone.srv).flatMap(([name, recs]) =>
      recs.map(([target, port]) => `srv-host=${name},${target},${port}`),
    );
    const key = srvLines.join('\n');
    if (this.child && key === this.srvKey) {
      const reads = this.reads();
      this.child.kill('SIGHUP');
      await waitFor(() => this.reads() > reads, 5000, 'dnsmasq re-read its hosts file');
      return;
    }
    this.srvKey = key;
    await this.kill();
    writeFileSync(
      join(this.dir, 'dnsmasq.conf'),
      [
        'no-resolv', // no upstream from /etc/resolv.conf: nothing is forwarded
        'no-hosts', // not the machine's /etc/hosts
        'no-poll',
        `listen-address=${this.address}`,
        'bind-interfaces',
        'port=53',
        `local=/${this.domain}/`, // the test zone is answered here or NXDOMAIN, never forwarded
        'local-ttl=0', // clients must not cache across a change
        `addn-hosts=${join(this.dir, 'hosts')}`,
        'log-facility=-',
        ...srvLines,
        '',
      ].join('\n'),
    );
    this.lines = [];
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        'dnsmasq',
        '--no-daemon',
        `--conf-file=${join(this.dir, 'dnsmasq.conf')}`,
        '--pid-file=',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    createInterface({ input: child.stderr! }).on('line', (l) => this.lines.push(l));
    await waitFor(
      () => this.lines.some((l) => / started, version /.test(l)) && this.reads() > 0,
      5000,
      `dnsmasq started (log: ${this.lines.join(' | ')})`,
    );
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${this.lines.join('\n')}`);
  }

  private reads(): number {
    return this.lines.filter((l) => l.includes(`read ${join(this.dir, 'hosts')}`)).length;
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.child?.kill('SIGKILL');
    this.child = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

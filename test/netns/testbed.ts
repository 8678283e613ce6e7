/**
 * A fault test bed of real hosts: network namespaces joined by veth pairs to a bridge that lives in
 * a namespace of its own (the root namespace's interfaces and routes are never touched). Faults:
 * signals to the node processes, and nftables rules inside the hosts for loss and partitions.
 * Everything it makes carries a per-run prefix and is removed on close, even after a failure.
 */
import { execFileSync } from 'node:child_process';
import { NodeProc } from '../runtime/procs.js';

const PREFIX = 'sbt';
export const GOSSIP_PORT = 9111;

function sh(args: string[]): string {
  return execFileSync(args[0] as string, args.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  }).toString();
}

/** Why the test bed cannot run here, or null when it can. */
export function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  for (const tool of ['ip', 'nft']) {
    try {
      sh(['which', tool]);
    } catch {
      return `needs ${tool} (apt-get install ${tool === 'ip' ? 'iproute2' : 'nftables'}; .ci/setup-system.sh does it)`;
    }
  }
  return null;
}

/** Removes namespaces left by earlier runs of this test bed that died before cleaning up. */
export function sweepStale(): void {
  for (const line of sh(['ip', 'netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const pid = /^sbt-(\d+)-/.exec(name)?.[1];
    if (!pid) continue;
    let alive = true;
    try {
      process.kill(Number(pid), 0);
    } catch {
      alive = false;
    }
    if (!alive) sh(['ip', 'netns', 'del', name]);
  }
}

export class TestBed {
  readonly hosts: string[] = [];
  readonly addresses: string[] = [];
  readonly procs: (NodeProc | null)[] = [];
  private readonly bridgeNs: string;
  private readonly subnet: number;
  private closed = false;

  constructor(readonly size: number) {
    sweepStale();
    const tag = `${PREFIX}-${process.pid}-${Math.floor(Math.random() * 1e6).toString(36)}`;
    this.bridgeNs = `${tag}-br`;
    this.subnet = 200 + (process.pid % 50);
    try {
      sh(['ip', 'netns', 'add', this.bridgeNs]);
      sh(['ip', '-n', this.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
      sh(['ip', '-n', this.bridgeNs, 'link', 'set', 'br0', 'up']);
      for (let i = 0; i < size; i++) {
        const ns = `${tag}-h${i}`;
        const address = `10.${this.subnet}.0.${i + 1}`;
        sh(['ip', 'netns', 'add', ns]);
        this.hosts.push(ns);
        this.addresses.push(address);
        // One end in the host, the other on the bridge.
        sh(['ip', '-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', this.bridgeNs]);
        sh(['ip', '-n', this.bridgeNs, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
        sh(['ip', '-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
        sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
        sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
        sh(['ip', 'netns', 'exec', ns, 'nft', 'add', 'table', 'inet', 'sbt']);
        sh([
          'ip',
          'netns',
          'exec',
          ns,
          'nft',
          'add',
          'chain',
          'inet',
          'sbt',
          'input',
          '{ type filter hook input priority 0; policy accept; }',
        ]);
        this.procs.push(null);
      }
    } catch (err) {
      this.close();
      throw err;
    }
    process.once('exit', () => this.close());
  }

  /** Starts (or restarts) the node of host i. */
  start(i: number, args: Record<string, unknown> = {}): NodeProc {
    const p = new NodeProc(
      {
        id: `h${i}`,
        host: this.addresses[i],
        port: GOSSIP_PORT,
        seeds: i === 0 ? [] : [`${this.addresses[0]}:${GOSSIP_PORT}`],
        ...args,
      },
      ['ip', 'netns', 'exec', this.hosts[i] as string],
    );
    this.procs[i] = p;
    return p;
  }

  /** Drops a random `percent` of the packets arriving at host i (nftables, inside the host). */
  loss(i: number, percent: number): void {
    this.nft(i, [
      'add',
      'rule',
      'inet',
      'sbt',
      'input',
      'udp',
      'dport',
      String(GOSSIP_PORT),
      'numgen',
      'random',
      'mod',
      '100',
      '<',
      String(percent),
      'drop',
    ]);
  }

  /** Cuts every host of `a` from every host of `b`, both ways. */
  partition(a: number[], b: number[]): void {
    const set = (xs: number[]) => `{ ${xs.map((x) => this.addresses[x]).join(', ')} }`;
    for (const i of a) this.nft(i, ['add', 'rule', 'inet', 'sbt', 'input', 'ip', 'saddr', set(b), 'drop']);
    for (const j of b) this.nft(j, ['add', 'rule', 'inet', 'sbt', 'input', 'ip', 'saddr', set(a), 'drop']);
  }

  /** Removes every loss and partition rule. */
  heal(): void {
    for (let i = 0; i < this.size; i++) this.nft(i, ['flush', 'chain', 'inet', 'sbt', 'input']);
  }

  private nft(i: number, args: string[]): void {
    sh(['ip', 'netns', 'exec', this.hosts[i] as string, 'nft', ...args]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.procs) p?.kill('SIGKILL');
    for (const ns of [...this.hosts, this.bridgeNs]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
  }
}

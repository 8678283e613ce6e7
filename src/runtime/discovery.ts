/**
 * Seed discovery: seeds written as "host:port", "[ipv6]:port" or "srv+NAME" become the gossip
 * addresses they stand for today. A host name yields every A/AAAA address it has (a Kubernetes
 * headless Service: one per ready pod); an SRV name yields every target and port, each target with
 * all its addresses. Resolution is repeated by the caller; each run reports what appeared and what
 * went away, and a seed's trouble is logged when it changes, not on every run.
 *
 * The resolver is injected (DnsResolver), so tests and other discovery sources can stand in for DNS.
 */
import { isIP } from 'node:net';
import type { Logger } from './api.js';
import { formatAddress, hostNameProblem, type Seed } from './seeds.js';
import { DiscoveryError, fromDnsError, type DnsResolver, type SrvAnswer } from './dns.js';

// The CLI imports these from here (src/cli/main.ts, src/cli/http-api.ts).
export { parseSeed, SeedError } from './seeds.js';
export { DiscoveryError, dnsServerProblem } from './dns.js';

/**
 * SRV targets looked up at once. getaddrinfo runs on libuv's thread pool (4 threads, shared with fs,
 * crypto and zlib): an answer listing hundreds of pods must not queue everything else behind it.
 */
const TARGET_LOOKUPS = 8;

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface DiscoveryResult {
  /** Every address the seeds stand for now, "host:port", sorted, each once. */
  readonly addresses: readonly string[];
  /** Addresses not in the previous result. On the first run: all of them. */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Why a seed, or an SRV target, gave nothing this run (a seed can give addresses and problems). */
  readonly problems: readonly DiscoveryError[];
}

export interface DiscoveryOptions {
  readonly resolver: DnsResolver;
  /** Keep addresses of this IP version only: a UDP socket sends to its own family alone. */
  readonly family?: 4 | 6;
  readonly log?: Logger;
}

interface SeedOutcome {
  addresses: string[];
  problems: DiscoveryError[];
}

/** A seed (or one SRV target) that gave no address, and why. */
const failed = (problem: DiscoveryError): SeedOutcome => ({ addresses: [], problems: [problem] });

export class SeedDiscovery {
  private readonly list: Seed[] = [];
  private current: readonly string[] = [];
  /** Each seed's last outcome, to log changes only. */
  private readonly last = new Map<string, { addresses: readonly string[]; problems: string }>();
  private running: Promise<DiscoveryResult> | null = null;

  constructor(private readonly options: DiscoveryOptions) {}

  /** Adds seeds (a seed already present is kept once). */
  add(seeds: readonly Seed[]): void {
    for (const s of seeds) if (!this.list.some((x) => x.text === s.text)) this.list.push(s);
  }

  get seeds(): readonly Seed[] {
    return this.list;
  }

  get addresses(): readonly string[] {
    return this.current;
  }

  /** True while a resolution runs: a periodic caller skips a run rather than piling them up. */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Abandons the resolution in flight, if any (its seeds report errors); for shutdown. */
  close(): void {
    this.options.resolver.cancel?.();
  }

  /** Resolves every seed now (after a run in progress, if any). Never rejects. */
  async resolve(): Promise<DiscoveryResult> {
    while (this.running) await this.running;
    const run = this.run();
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = null;
    }
  }

  private async run(): Promise<DiscoveryResult> {
    // The seeds as they are now: a join may add seeds while this run awaits its answers.
    const list = [...this.list];
    const outcomes = await Promise.all(list.map((s) => this.resolveSeed(s)));
    const all = new Set<string>();
    const problems: DiscoveryError[] = [];
    list.forEach((seed, i) => {
      const o = outcomes[i] as SeedOutcome;
      o.addresses = [...new Set(o.addresses)].sort();
      for (const a of o.addresses) all.add(a);
      problems.push(...o.problems);
      this.report(seed, o);
    });
    const addresses = [...all].sort();
    const before = new Set(this.current);
    const added = addresses.filter((a) => !before.has(a));
    const removed = this.current.filter((a) => !all.has(a));
    this.current = addresses;
    return { addresses, added, removed, problems };
  }

  private async resolveSeed(seed: Seed): Promise<SeedOutcome> {
    if (seed.kind === 'address') {
      if (isIP(seed.host) !== 0) return this.keepFamily(seed.text, seed.host, [formatAddress(seed.host, seed.port)]);
      try {
        const found = await this.options.resolver.addresses(seed.host);
        return this.checkAddresses(seed.text, seed.host, found, seed.port);
      } catch (err) {
        return failed(fromDnsError(seed.text, seed.host, 'A/AAAA', err));
      }
    }
    let answers: readonly SrvAnswer[];
    try {
      answers = await this.options.resolver.srv(seed.name);
    } catch (err) {
      return failed(fromDnsError(seed.text, seed.name, 'SRV', err));
    }
    if (!Array.isArray(answers) || answers.length === 0) {
      return failed(new DiscoveryError(seed.text, 'no-records', `"${seed.name}" has no SRV records`));
    }
    // Every target counts, whatever its priority and weight: these are gossip seeds, not a load balancer.
    const parts = await mapLimited(answers, TARGET_LOOKUPS, async (a): Promise<SeedOutcome> => {
      if (typeof a?.name !== 'string') {
        return failed(
          new DiscoveryError(
            seed.text,
            'bad-srv-target',
            `an SRV record of "${seed.name}" has a malformed target: not a name (${JSON.stringify(a?.name)})`,
          ),
        );
      }
      const target = a.name.replace(/\.$/, '');
      if (target === '') {
        return failed(
          new DiscoveryError(seed.text, 'no-service', `"${seed.name}" says the service is not offered (target ".")`),
        );
      }
      const bad = hostNameProblem(target);
      if (bad && isIP(target) === 0)
        return failed(
          new DiscoveryError(
            seed.text,
            'bad-srv-target',
            `an SRV record of "${seed.name}" has a malformed target: ${bad}`,
          ),
        );
      if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65_535) {
        return failed(
          new DiscoveryError(
            seed.text,
            'bad-srv-target',
            `an SRV record of "${seed.name}" gives port ${JSON.stringify(a.port)} for ${target}; ports are 1–65535`,
          ),
        );
      }
      if (isIP(target) !== 0) return this.keepFamily(seed.text, target, [formatAddress(target, a.port)]);
      try {
        return this.checkAddresses(seed.text, target, await this.options.resolver.addresses(target), a.port);
      } catch (err) {
        const e = fromDnsError(seed.text, target, 'A/AAAA', err);
        return failed(new DiscoveryError(seed.text, e.reason, `SRV target ${target}: ${e.detail}`, e.cause));
      }
    });
    return { addresses: parts.flatMap((p) => p.addresses), problems: parts.flatMap((p) => p.problems) };
  }

  private checkAddresses(seed: string, host: string, found: readonly string[], port: number): SeedOutcome {
    const ips = (Array.isArray(found) ? found : []).filter((a) => typeof a === 'string' && isIP(a) !== 0);
    if (ips.length === 0) return failed(new DiscoveryError(seed, 'no-records', `"${host}" gave no usable address`));
    return this.keepFamily(
      seed,
      host,
      [...new Set(ips)].map((ip) => formatAddress(ip, port)),
    );
  }

  private keepFamily(seed: string, host: string, addresses: string[]): SeedOutcome {
    const family = this.options.family;
    if (!family) return { addresses, problems: [] };
    const kept = addresses.filter((a) => (a.startsWith('[') ? 6 : 4) === family);
    if (kept.length > 0 || addresses.length === 0) return { addresses: kept, problems: [] };
    const other = family === 4 ? 'IPv6' : 'IPv4';
    const listen = family === 4 ? '"[::]:PORT" (or an IPv6 address)' : 'an IPv4 address';
    return failed(
      new DiscoveryError(
        seed,
        'wrong-family',
        `"${host}" has only ${other} addresses and this node's socket is IPv${family}: listen on ${listen}, ` +
          `or publish ${family === 4 ? 'A' : 'AAAA'} records`,
      ),
    );
  }

  /** Logs a seed's state when it differs from the last run's: a broken seed is one warning, not one per interval. */
  private report(seed: Seed, o: SeedOutcome): void {
    const log = this.options.log;
    const problems = o.problems.map((p) => p.message).join('; ');
    const last = this.last.get(seed.text);
    if (last && last.problems === problems && last.addresses.join() === o.addresses.join()) return;
    this.last.set(seed.text, { addresses: o.addresses, problems });
    if (!log) return;
    const lastAddresses = last?.addresses ?? [];
    if (o.problems.length > 0) {
      log.warn(
        { seed: seed.text, addresses: o.addresses, reasons: o.problems.map((p) => p.reason) },
        `${o.addresses.length === 0 ? 'seed did not resolve' : 'seed partly resolved'}: ${problems}`,
      );
    } else {
      const before = new Set(lastAddresses);
      const now = new Set(o.addresses);
      log.info(
        {
          seed: seed.text,
          addresses: o.addresses,
          added: o.addresses.filter((a) => !before.has(a)),
          removed: lastAddresses.filter((a) => !now.has(a)),
        },
        last === undefined ? 'seed resolved' : last.problems === '' ? 'seed addresses changed' : 'seed resolves again',
      );
    }
  }
}

/**
 * The few discovered addresses handed to the core as seeds. The core sends to a seed in a round with
 * probability seeds / members, so all of a headless Service's pods as seeds would add about one
 * exchange to every round (docs/benchmarks.md, "Seeds per node"); a few keep a removed partition
 * reachable at the cost the benchmarks measured (3 seeds). Kept while they stay in DNS, so the
 * choice does not churn; drawn afresh when `rotate` (a node alone, whose seeds did not answer).
 * New addresses are met through SeedDiscovery's `added` instead.
 */
export function pickSeeds(
  previous: readonly string[],
  addresses: readonly string[],
  self: string,
  count: number,
  random: () => number,
  rotate = false,
): string[] {
  const pool = addresses.filter((a) => a !== self);
  const present = new Set(pool);
  const kept = rotate ? [] : previous.filter((a) => present.has(a)).slice(0, count);
  const rest = pool.filter((a) => !kept.includes(a));
  while (kept.length < count && rest.length > 0)
    kept.push(rest.splice(Math.floor(random() * rest.length), 1)[0] as string);
  return kept.sort();
}

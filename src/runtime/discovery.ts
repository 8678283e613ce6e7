/**
 * Seed discovery: seeds written as "host:port", "[ipv6]:port" or "srv+NAME" become the gossip
 * addresses they stand for today. A host name yields every A/AAAA address it has (a Kubernetes
 * headless Service: one per ready pod); an SRV name yields every target and port, each target with
 * all its addresses. Resolution is repeated by the caller; each run reports what appeared and what
 * went away, and a seed's trouble is logged when it changes, not on every run.
 *
 * The resolver is injected (DnsResolver), so tests and other discovery sources can stand in for DNS.
 */
import { lookup, Resolver } from 'node:dns/promises';
import { isIP, isIPv6 } from 'node:net';
import type { Logger } from './api.js';
import { ScuttlebuttError } from '../errors.js';

export const SRV_PREFIX = 'srv+';

/** A parsed seed: an address (IP literal or host name) with its port, or an SRV name. */
export type Seed =
  | { readonly kind: 'address'; readonly text: string; readonly host: string; readonly port: number }
  | { readonly kind: 'srv'; readonly text: string; readonly name: string };

/** `SB_ERR_SEED`: a seed that is not written right; `problem` says what to write instead. */
export class SeedError extends ScuttlebuttError {
  readonly code = 'SB_ERR_SEED';
  override readonly name = 'SeedError';

  constructor(
    readonly seed: unknown,
    readonly problem: string,
  ) {
    super(`bad seed ${typeof seed === 'string' ? JSON.stringify(seed) : String(seed)}: ${problem}`);
  }
}

const SYNTAX = 'a seed is "host:port", "[ipv6]:port" or "srv+NAME" (an SRV name, ports from its records)';
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Why `name` is not a DNS name we can look up, or null. Underscores pass: SRV names need them. */
export function hostNameProblem(name: string): string | null {
  if (name.length === 0) return 'the name is empty';
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length > 253) return `the name is ${bare.length} characters long; DNS allows 253`;
  for (const label of bare.split('.')) {
    if (label.length === 0) return `"${name}" has an empty label (two dots in a row, or a leading dot)`;
    if (label.length > 63)
      return `the label "${label.slice(0, 20)}…" is ${label.length} characters long; DNS allows 63`;
    if (!LABEL.test(label)) {
      return `"${name}" is not a valid host name: labels hold letters, digits, "-" and "_", and neither start nor end with "-" (bad label "${label}")`;
    }
  }
  if (/^[0-9.]+$/.test(bare)) return `"${name}" looks like an IPv4 address but is not one`;
  return null;
}

/** Parses one seed, or throws a SeedError saying what to fix. */
export function parseSeed(text: unknown): Seed {
  if (typeof text !== 'string')
    throw new SeedError(text, `a seed must be a string (got ${text === null ? 'null' : typeof text}); ${SYNTAX}`);
  if (text.trim() !== text || text.length === 0)
    throw new SeedError(text, text.length === 0 ? `the seed is empty; ${SYNTAX}` : 'remove the surrounding spaces');
  if (text.includes('://')) throw new SeedError(text, `a seed is not a URL; ${SYNTAX}`);
  if (text.toLowerCase().startsWith(SRV_PREFIX)) {
    const name = text.slice(SRV_PREFIX.length);
    const port = /:(\d*)$/.exec(name);
    if (port)
      throw new SeedError(text, `an SRV seed takes its ports from the SRV records: write it without "${port[0]}"`);
    const problem = hostNameProblem(name);
    if (problem)
      throw new SeedError(
        text,
        `${problem}; an SRV seed is "srv+_service._proto.name", e.g. "srv+_gossip._udp.scuttlebutt.default.svc.cluster.local"`,
      );
    return { kind: 'srv', text, name };
  }
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1] as string;
    if (!isIPv6(host)) throw new SeedError(text, `brackets hold an IPv6 address, and "${host}" is not one`);
    if (bracketed[2] === undefined) throw new SeedError(text, `the port is missing: write "[${host}]:9111"`);
    portText = bracketed[2];
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0)
      throw new SeedError(text, `the port is missing: write "${text}:9111" (or "srv+${text}" if it is an SRV name)`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      if (isIPv6(host))
        throw new SeedError(text, `an IPv6 address goes in brackets, the port after them: "[${host}]:${portText}"`);
      throw new SeedError(
        text,
        isIPv6(text) ? `an IPv6 address goes in brackets, the port after them: "[${text}]:9111"` : SYNTAX,
      );
    }
    if (host.length === 0) throw new SeedError(text, 'the host is missing before ":"');
    if (isIP(host) === 0) {
      const problem = hostNameProblem(host);
      if (problem) throw new SeedError(text, problem);
    }
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) {
    throw new SeedError(text, `the port must be a number from 1 to 65535 (got "${portText}")`);
  }
  return { kind: 'address', text, host, port: Number(portText) };
}

/** Parses every seed; one SeedError names every bad one. */
export function parseSeeds(texts: readonly unknown[]): Seed[] {
  if (!Array.isArray(texts)) throw new SeedError(texts, `seeds must be an array of strings; ${SYNTAX}`);
  const seeds: Seed[] = [];
  const problems: SeedError[] = [];
  for (const t of texts) {
    try {
      seeds.push(parseSeed(t));
    } catch (err) {
      if (!(err instanceof SeedError)) throw err;
      problems.push(err);
    }
  }
  if (problems.length === 1) throw problems[0] as SeedError;
  if (problems.length > 1) throw new SeedError(texts.join(', '), problems.map((p) => p.message).join('; '));
  return seeds;
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------------------- resolvers

export interface SrvAnswer {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/**
 * Where names are looked up. Both methods reject with an Error carrying a Node dns `code`
 * (ENOTFOUND, ENODATA, ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED...) when there is no answer.
 */
export interface DnsResolver {
  /** Every IPv4 and IPv6 address of a host name. */
  addresses(host: string): Promise<readonly string[]>;
  srv(name: string): Promise<readonly SrvAnswer[]>;
  /** Abandons queries in flight (they reject), so a node that shuts down does not wait for DNS timeouts. */
  cancel?(): void;
}

export interface SystemResolverOptions {
  /**
   * DNS servers to ask ("ip", "ip:port", "[ipv6]:port"), instead of the system's. Set: host names are
   * resolved with A and AAAA queries to these servers only (no /etc/hosts). Empty or absent:
   * getaddrinfo for host names (/etc/hosts, nsswitch, resolv.conf search domains, as any program) and
   * the resolv.conf servers for SRV.
   */
  readonly servers?: readonly string[];
}

/** Why `server` is not a DNS server address ("ip", "ip:port", "[ipv6]:port"), or null. */
export function dnsServerProblem(server: unknown): string | null {
  if (typeof server !== 'string') return `must be a string (got ${typeof server})`;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(server) ?? /^([^:]+):(\d{1,5})$/.exec(server);
  const host = m ? (m[1] as string) : server;
  if (isIP(host) === 0)
    return `must be an IP address, optionally with a port ("10.0.0.2", "10.0.0.2:8600", "[fd00::2]:53"): a name would need DNS to find DNS (got ${JSON.stringify(server)})`;
  if (m && (Number(m[2]) < 1 || Number(m[2]) > 65_535))
    return `has a port outside 1–65535 (got ${JSON.stringify(server)})`;
  return null;
}

export function systemResolver(options: SystemResolverOptions = {}): DnsResolver {
  const servers = options.servers ?? [];
  const resolver = new Resolver();
  if (servers.length > 0) resolver.setServers([...servers]);
  return {
    async addresses(host) {
      if (servers.length === 0) return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
      const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
      const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
      if (found.length > 0) return found;
      // Both failed or both were empty: the more telling error wins (no such name over no records).
      const errs = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as NodeJS.ErrnoException] : []));
      const rank = (e: NodeJS.ErrnoException): number => (e.code === 'ENODATA' ? 0 : e.code === 'ENOTFOUND' ? 2 : 1);
      errs.sort((a, b) => rank(b) - rank(a));
      throw errs[0] ?? Object.assign(new Error(`no A or AAAA records for ${host}`), { code: 'ENODATA' });
    },
    srv: (name) => resolver.resolveSrv(name),
    cancel: () => resolver.cancel(),
  };
}

// ---------------------------------------------------------------------------- errors

export type DiscoveryErrorReason =
  | 'nxdomain'
  | 'not-found'
  | 'no-records'
  | 'no-service'
  | 'timeout'
  | 'server-failure'
  | 'refused'
  | 'unreachable-server'
  | 'bad-answer'
  | 'bad-srv-target'
  | 'wrong-family'
  | 'failed';

/**
 * `SB_ERR_DISCOVERY`: why a seed (or one target of an SRV seed) gave no address, and what to do about
 * it. `cause` is the resolver's error when there was one (its `code`: `ENOTFOUND`, `ETIMEOUT`, ...).
 */
export class DiscoveryError extends ScuttlebuttError {
  readonly code = 'SB_ERR_DISCOVERY';
  override readonly name = 'DiscoveryError';

  constructor(
    readonly seed: string,
    readonly reason: DiscoveryErrorReason,
    /** The message without the seed. */
    readonly detail: string,
    cause?: unknown,
  ) {
    super(`seed "${seed}": ${detail}`, { cause });
  }
}

function fromDnsError(seed: string, name: string, query: 'A/AAAA' | 'SRV', err: unknown): DiscoveryError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const detail = (err as Error | null)?.message ?? String(err);
  const where = 'check the DNS server (dnsServers, or /etc/resolv.conf) is up and reachable';
  switch (code) {
    case 'ENOTFOUND':
      // getaddrinfo says ENOTFOUND both for no such name and for a name without addresses.
      return query === 'SRV'
        ? new DiscoveryError(
            seed,
            'nxdomain',
            `the name "${name}" does not exist (NXDOMAIN): check the spelling, the namespace and the port name ("_port._proto.service.namespace.svc.cluster.local")`,
            err,
          )
        : new DiscoveryError(
            seed,
            'not-found',
            `"${name}" does not resolve (no such name, or no A/AAAA records yet): check the spelling and the search domain; a headless Service lists only ready pods`,
            err,
          );
    case 'ENODATA':
      return query === 'SRV'
        ? new DiscoveryError(
            seed,
            'no-records',
            `"${name}" has no SRV records: check the port name and protocol ("_gossip._udp...") match the Service's port`,
            err,
          )
        : new DiscoveryError(
            seed,
            'no-records',
            `"${name}" exists but has no A/AAAA records (no ready pods behind it yet?)`,
            err,
          );
    case 'ETIMEOUT':
      return new DiscoveryError(seed, 'timeout', `no answer for "${name}" (${query}) in time: ${where}`, err);
    case 'EAI_AGAIN':
      // getaddrinfo's "temporary failure": a timeout or a server failure, it does not say which.
      return new DiscoveryError(
        seed,
        'timeout',
        `no answer for "${name}" (${query}): the lookup timed out or the server failed; ${where}`,
        err,
      );
    case 'ESERVFAIL':
      return new DiscoveryError(
        seed,
        'server-failure',
        `the DNS server failed to answer for "${name}" (SERVFAIL): its upstream or zone is broken`,
        err,
      );
    case 'EREFUSED':
      return new DiscoveryError(
        seed,
        'refused',
        `the DNS server refused to answer for "${name}" (REFUSED): it does not serve this zone to us`,
        err,
      );
    case 'ECONNREFUSED':
      return new DiscoveryError(
        seed,
        'unreachable-server',
        `no DNS server could be contacted for "${name}": ${where}`,
        err,
      );
    case 'EBADRESP':
    case 'EFORMERR':
    case 'EBADNAME':
      return new DiscoveryError(seed, 'bad-answer', `the DNS answer for "${name}" was malformed (${code})`, err);
    default:
      return new DiscoveryError(seed, 'failed', `could not resolve "${name}" (${query}): ${detail}`, err);
  }
}

// ---------------------------------------------------------------------------- discovery

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
        return { addresses: [], problems: [fromDnsError(seed.text, seed.host, 'A/AAAA', err)] };
      }
    }
    let answers: readonly SrvAnswer[];
    try {
      answers = await this.options.resolver.srv(seed.name);
    } catch (err) {
      return { addresses: [], problems: [fromDnsError(seed.text, seed.name, 'SRV', err)] };
    }
    if (!Array.isArray(answers) || answers.length === 0) {
      return {
        addresses: [],
        problems: [new DiscoveryError(seed.text, 'no-records', `"${seed.name}" has no SRV records`)],
      };
    }
    // Every target counts, whatever its priority and weight: these are gossip seeds, not a load balancer.
    const parts = await mapLimited(answers, TARGET_LOOKUPS, async (a): Promise<SeedOutcome> => {
      if (typeof a?.name !== 'string') {
        return {
          addresses: [],
          problems: [
            new DiscoveryError(
              seed.text,
              'bad-srv-target',
              `an SRV record of "${seed.name}" has a malformed target: not a name (${JSON.stringify(a?.name)})`,
            ),
          ],
        };
      }
      const target = a.name.replace(/\.$/, '');
      if (target === '') {
        return {
          addresses: [],
          problems: [
            new DiscoveryError(seed.text, 'no-service', `"${seed.name}" says the service is not offered (target ".")`),
          ],
        };
      }
      const bad = hostNameProblem(target);
      if (bad && isIP(target) === 0)
        return {
          addresses: [],
          problems: [
            new DiscoveryError(
              seed.text,
              'bad-srv-target',
              `an SRV record of "${seed.name}" has a malformed target: ${bad}`,
            ),
          ],
        };
      if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65_535) {
        return {
          addresses: [],
          problems: [
            new DiscoveryError(
              seed.text,
              'bad-srv-target',
              `an SRV record of "${seed.name}" gives port ${JSON.stringify(a.port)} for ${target}; ports are 1–65535`,
            ),
          ],
        };
      }
      if (isIP(target) !== 0) return this.keepFamily(seed.text, target, [formatAddress(target, a.port)]);
      try {
        return this.checkAddresses(seed.text, target, await this.options.resolver.addresses(target), a.port);
      } catch (err) {
        const e = fromDnsError(seed.text, target, 'A/AAAA', err);
        return {
          addresses: [],
          problems: [new DiscoveryError(seed.text, e.reason, `SRV target ${target}: ${e.detail}`, e.cause)],
        };
      }
    });
    return { addresses: parts.flatMap((p) => p.addresses), problems: parts.flatMap((p) => p.problems) };
  }

  private checkAddresses(seed: string, host: string, found: readonly string[], port: number): SeedOutcome {
    const ips = (Array.isArray(found) ? found : []).filter((a) => typeof a === 'string' && isIP(a) !== 0);
    if (ips.length === 0)
      return { addresses: [], problems: [new DiscoveryError(seed, 'no-records', `"${host}" gave no usable address`)] };
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
    return {
      addresses: [],
      problems: [
        new DiscoveryError(
          seed,
          'wrong-family',
          `"${host}" has only ${other} addresses and this node's socket is IPv${family}: listen on ${family === 4 ? '"[::]:PORT" (or an IPv6 address)' : 'an IPv4 address'}, or publish ${family === 4 ? 'A' : 'AAAA'} records`,
        ),
      ],
    };
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

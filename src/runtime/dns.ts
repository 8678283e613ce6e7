/**
 * Where seed names are looked up (DnsResolver, and the system's: getaddrinfo or chosen DNS servers),
 * and what a failed lookup means for the operator (DiscoveryError, built from the resolver's `code`).
 */
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ScuttlebuttError } from '../errors.js';

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
    return (
      'must be an IP address, optionally with a port ("10.0.0.2", "10.0.0.2:8600", "[fd00::2]:53"): ' +
      `a name would need DNS to find DNS (got ${JSON.stringify(server)})`
    );
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

/** The DiscoveryError for a failed lookup of `name` (for `seed`), by the resolver's error code. */
export function fromDnsError(seed: string, name: string, query: 'A/AAAA' | 'SRV', err: unknown): DiscoveryError {
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
            `the name "${name}" does not exist (NXDOMAIN): check the spelling, the namespace ` +
              'and the port name ("_port._proto.service.namespace.svc.cluster.local")',
            err,
          )
        : new DiscoveryError(
            seed,
            'not-found',
            `"${name}" does not resolve (no such name, or no A/AAAA records yet): ` +
              'check the spelling and the search domain; a headless Service lists only ready pods',
            err,
          );
    case 'ENODATA':
      return query === 'SRV'
        ? new DiscoveryError(
            seed,
            'no-records',
            `"${name}" has no SRV records: ` +
              `check the port name and protocol ("_gossip._udp...") match the Service's port`,
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

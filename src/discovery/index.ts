/**
 * Seed addresses as `join()` reads them (`host:port`, `[ipv6]:port`, `srv+NAME`) and their DNS
 * resolution, re-resolved as the node does, for tools and custom transports that find peers the same way.
 *
 * @module scuttlebutt-ts/discovery
 */
export { parseSeed, SeedError, type Seed } from '../runtime/seeds.js';
export {
  DiscoveryError,
  systemResolver,
  type DiscoveryErrorReason,
  type DnsResolver,
  type SrvAnswer,
  type SystemResolverOptions,
} from '../runtime/dns.js';
export { SeedDiscovery, type DiscoveryOptions, type DiscoveryResult } from '../runtime/discovery.js';

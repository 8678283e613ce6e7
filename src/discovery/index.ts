/**
 * Seed addresses as `join()` reads them (`host:port`, `[ipv6]:port`, `srv+NAME`) and their DNS
 * resolution, re-resolved as the node does, for tools and custom transports that find peers the same way.
 *
 * @module scuttlebutt-ts/discovery
 */
export {
  DiscoveryError,
  parseSeed,
  SeedDiscovery,
  SeedError,
  systemResolver,
  type DiscoveryErrorReason,
  type DiscoveryOptions,
  type DiscoveryResult,
  type DnsResolver,
  type Seed,
  type SrvAnswer,
  type SystemResolverOptions,
} from '../runtime/discovery.js';

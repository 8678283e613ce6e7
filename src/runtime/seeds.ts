/**
 * Seeds as written ("host:port", "[ipv6]:port", "srv+NAME"): parsing, and the host-name checks that
 * say what to write instead. Pure: nothing here looks anything up (discovery.ts resolves them).
 */
import { isIP, isIPv6 } from 'node:net';
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
      return (
        `"${name}" is not a valid host name: labels hold letters, digits, "-" and "_", ` +
        `and neither start nor end with "-" (bad label "${label}")`
      );
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
        `${problem}; an SRV seed is "srv+_service._proto.name", ` +
          'e.g. "srv+_gossip._udp.scuttlebutt.default.svc.cluster.local"',
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

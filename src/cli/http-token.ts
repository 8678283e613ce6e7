/**
 * The HTTP API's write token: a shared secret that every request changing the agent (POST /join,
 * /leave, /force-leave; PUT and DELETE /kv/KEY) must carry as `Authorization: Bearer TOKEN` once
 * the agent is given one. Reads stay open, so probes, Prometheus and the dashboard need nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fail } from './usage.js';

/** Shortest token accepted: `scuttlebutt keygen` prints 44 characters. */
export const MIN_TOKEN_LENGTH = 16;

/** The token in `path` (its first line, trimmed), or a usage error saying what to fix. */
export function readTokenFile(path: string, flag = '--http-token-file'): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail(`${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
  const token = (text.split('\n')[0] ?? '').trim();
  if (token.length < MIN_TOKEN_LENGTH)
    fail(
      `${flag} ${path}: the token must be at least ${MIN_TOKEN_LENGTH} characters on the first line ` +
        `(got ${token.length}; make one with: scuttlebutt keygen > ${path})`,
    );
  if (!/^[\x21-\x7e]+$/.test(token))
    fail(`${flag} ${path}: the token must be printable ASCII without spaces (it travels in an HTTP header)`);
  return token;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Whether an Authorization header carries `token`. Both sides are hashed first, so the comparison
 * takes the same time whatever the header's length or content.
 */
export function carriesToken(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), digest(token));
}

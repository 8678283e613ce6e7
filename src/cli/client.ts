/**
 * The subcommands' side of the agent's HTTP API: JSON requests with errors that say what to do, a table printer, an SSE
 * reader.
 */
import { parseHostPort } from '../runtime/config.js';
import { fail } from './usage.js';
import { ScuttlebuttError } from '../errors.js';

/** The agent a subcommand talks to: its API address, and the write token when the agent has one. */
export interface AgentTarget {
  readonly http: string;
  readonly token?: string | undefined;
}

/**
 * `SB_ERR_AGENT`: the agent a subcommand talks to did not answer, or refused the request; `status` is
 * its HTTP status when it answered, `cause` the connection's error when it did not.
 */
export class AgentError extends ScuttlebuttError {
  readonly code = 'SB_ERR_AGENT';
  override readonly name = 'AgentError';

  constructor(
    message: string,
    readonly status?: number,
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

/** The error for an agent that does not answer at all (nothing listens, or the connection failed). */
export const unreachable = (http: string, cause: unknown): AgentError =>
  new AgentError(
    `no agent answers on http://${http} (start one with: scuttlebutt agent --http ${http})`,
    undefined,
    cause,
  );

export async function api(target: AgentTarget, path: string, init: RequestInit = {}): Promise<unknown> {
  const { http, token } = target;
  if (!parseHostPort(http)) fail(`--http must be HOST:PORT (got "${http}")`);
  let res: Response;
  try {
    const headers = new Headers(init.headers);
    if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
    res = await fetch(`http://${http}${path}`, { ...init, headers });
  } catch (err) {
    throw unreachable(http, err);
  }
  const text = await res.text();
  let body: { error?: string } = {};
  try {
    body = JSON.parse(text) as { error?: string };
  } catch {
    if (!res.ok) throw new AgentError(`HTTP ${res.status} from http://${http}${path}`, res.status);
    throw new AgentError(`http://${http}${path} did not answer JSON: is it a scuttlebutt agent?`, res.status);
  }
  if (!res.ok) throw new AgentError(body.error ?? `HTTP ${res.status}`, res.status);
  return body;
}

export const post = (target: AgentTarget, path: string, body: unknown): Promise<unknown> =>
  api(target, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export interface MemberJson {
  id: string;
  address: string;
  generation: number;
  status: string;
  metadata: Record<string, string>;
}

export function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  for (const r of [head, ...rows])
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()}\n`,
    );
}

/**
 * Reads a Server-Sent Events stream, one parsed event at a time, until it ends. Comment lines (the agent's
 * greeting and heartbeats) are no events: `onComment` hears each, whole (leading colon included).
 */
export async function* sse(
  body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { readonly onComment?: (line: string) => void } = {},
): AsyncGenerator<{ id?: string; event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let id: string | undefined;
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) {
          options.onComment?.(line);
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) yield { ...(id !== undefined ? { id } : {}), event, data: data.join('\n') };
    }
  }
}

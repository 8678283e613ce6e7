/**
 * `scuttlebutt event` and `scuttlebutt query`: a user event or a query sent through a running agent
 * (POST /event, POST /query), with serf's flags and vocabulary so serf users feel at home. A query's
 * answers are printed as the agent streams them (NDJSON), then its summary.
 */
import { parseHostPort } from '../runtime/config.js';
import { AgentError, post, unreachable, type AgentTarget } from './client.js';
import { agentTarget, HTTP_FLAG, HTTP_HELP, intFlag, parseTags, str, type Command } from './command.js';
import { fail } from './usage.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as Go and serf write it ("500ms", "15s", "1m30s", "1.5s") in milliseconds, or null
 * when it is not one. A bare number is refused: a unit says whether 5 means seconds or milliseconds.
 */
export function parseDuration(text: string): number | null {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return null;
  let ms = 0;
  for (const [, n, , unit] of text.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * (UNITS[unit as string] ?? 0);
  return Math.round(ms);
}

/** "1.50 s" or "350 ms": how a summary says how long a query ran. */
const seconds = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

/** A payload as the API gives it: UTF-8 text as is, other bytes as base64 (so marked). */
function payloadText(line: { payload?: unknown; payloadBase64?: unknown }): string {
  if (typeof line.payload === 'string') return line.payload;
  if (typeof line.payloadBase64 === 'string') return `(base64) ${line.payloadBase64}`;
  return '';
}

/** One line of POST /query's NDJSON answer. */
interface AnswerLine {
  kind: string;
  from?: string;
  latencyMs?: number;
  payload?: string;
  payloadBase64?: string;
  message?: string;
  asked?: number;
  notAsked?: number;
  acks?: number;
  responses?: number;
  errors?: number;
  elapsedMs?: number;
}

/** POST /query, its answer read line by line as it arrives; the agent's refusal (400, 401, 429) as an AgentError. */
async function* streamQuery(target: AgentTarget, body: unknown, onOpen: () => void): AsyncGenerator<AnswerLine> {
  const { http, token } = target;
  if (!parseHostPort(http)) fail(`--http must be HOST:PORT (got "${http}")`, 'query');
  let res: Response;
  try {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/x-ndjson' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    res = await fetch(`http://${http}/query`, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch (err) {
    throw unreachable(http, err);
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    let message = `HTTP ${res.status} from http://${http}/query`;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? message;
    } catch {
      // Not JSON: not a scuttlebutt agent, or a proxy's page; the status says enough.
    }
    throw new AgentError(message, res.status);
  }
  onOpen();
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, end).trim();
      buf = buf.slice(end + 1);
      if (line !== '') yield JSON.parse(line) as AnswerLine;
    }
  }
}

export const EVENT_COMMANDS: Record<string, Command> = {
  event: {
    summary: 'send a user event to every member, through a running agent',
    usage: `usage: scuttlebutt event [--coalesce=false] NAME [PAYLOAD] [--http HOST:PORT]

Every live member hears the event once (on /events, the dashboard, its event handlers).
  --coalesce=true|false     when true (the default), members that receive a burst of events of this
                            NAME deliver only the newest; false delivers every one
${HTTP_HELP}`,
    flags: { coalesce: { type: 'string', default: 'true' }, ...HTTP_FLAG },
    positionals: [1, 2],
    async run(values, [name, payload]) {
      const c = str(values.coalesce);
      if (!/^(true|false)$/.test(c)) fail(`--coalesce must be true or false (got "${c}")`, 'event');
      const coalesce = c === 'true';
      const r = (await post(agentTarget(values), '/event', {
        name,
        ...(payload === undefined ? {} : { payload }),
        coalesce,
      })) as { ltime: number };
      process.stdout.write(
        `Event "${name as string}" sent (Lamport time ${r.ltime}, coalescing ${coalesce ? 'on' : 'off'})\n`,
      );
    },
  },
  query: {
    summary: 'ask members a question and print their acks and responses',
    usage: `usage: scuttlebutt query [--tag KEY=VALUE]... [--node ID]... [--timeout DURATION] [--no-ack]
                         [--relay-factor N] [--format text|json] NAME [PAYLOAD] [--http HOST:PORT]

Sends the query through the agent and prints each ack and response as it arrives, then a summary once
the timeout has passed. Members answer with their handler for NAME (a member without one only acks).
  --tag KEY=VALUE           ask only members whose metadata has KEY=VALUE; repeatable (all must match)
  --node ID                 ask only these members; repeatable
  --timeout DURATION        how long to wait for answers: 500ms, 5s, 1m (default: the library's, which
                            grows with the gossip interval and the cluster's size)
  --no-ack                  members send no ack, only their response
  --relay-factor N          each responder also sends its response through N other members, 0 to 8
                            (default 0)
  --format text|json        json prints the API's lines: one JSON object per answer, then the summary
${HTTP_HELP}`,
    flags: {
      tag: { type: 'string', multiple: true },
      node: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      'no-ack': { type: 'boolean', default: false },
      'relay-factor': { type: 'string' },
      format: { type: 'string', default: 'text' },
      ...HTTP_FLAG,
    },
    positionals: [1, 2],
    async run(values, [name, payload]) {
      const format = str(values.format);
      if (format !== 'text' && format !== 'json') fail(`--format must be text or json (got "${format}")`, 'query');
      const tagList = (values.tag as string[] | undefined) ?? [];
      const tags = parseTags(tagList, '--tag', 'query');
      const ids = (values.node as string[] | undefined) ?? [];
      if (ids.some((id) => id === '')) fail('--node must name a member (got an empty ID)', 'query');
      let timeoutMs: number | undefined;
      if (values.timeout !== undefined) {
        const d = parseDuration(str(values.timeout));
        if (d === null || d <= 0)
          fail(`--timeout must be a duration such as 500ms, 5s or 1m (got "${str(values.timeout)}")`, 'query');
        timeoutMs = d;
      }
      const relayFactor = intFlag('relay-factor', values['relay-factor'], 0, 'query');
      if (relayFactor !== undefined && relayFactor > 8)
        fail(`--relay-factor must be an integer from 0 to 8 (got "${relayFactor}")`, 'query');
      const body = {
        name,
        ...(payload === undefined ? {} : { payload }),
        ...(tagList.length > 0 ? { tags } : {}),
        ...(ids.length > 0 ? { ids } : {}),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(values['no-ack'] === true ? { ack: false } : {}),
        ...(relayFactor === undefined ? {} : { relayFactor }),
      };
      const out = (s: string): void => void process.stdout.write(`${s}\n`);
      let summary: AnswerLine | undefined;
      const opened = (): void => void (format === 'text' && out(`Query "${name as string}" sent`));
      for await (const line of streamQuery(agentTarget(values), body, opened)) {
        if (format === 'json') out(JSON.stringify(line));
        if (line.kind === 'summary') summary = line;
        if (format === 'json' || line.kind === 'summary') continue;
        const who = `"${line.from ?? '?'}" after ${Math.round(line.latencyMs ?? 0)} ms`;
        if (line.kind === 'ack') out(`Ack from ${who}`);
        // A handler's output usually ends with a newline: the line ends there already.
        else if (line.kind === 'response') out(`Response from ${who}: ${payloadText(line).replace(/\r?\n$/, '')}`);
        else if (line.kind === 'error') out(`Error from ${who}: ${line.message ?? ''}`);
      }
      if (!summary) throw new AgentError('the agent ended the query without a summary (did it stop?)');
      if (format === 'json') return;
      const s = summary;
      const older = s.notAsked ? `, ${s.notAsked} not asked (older protocol)` : '';
      out(
        `Total acks: ${s.acks ?? 0}, responses: ${s.responses ?? 0}, errors: ${s.errors ?? 0} ` +
          `(${s.asked ?? 0} members asked${older}, ${seconds(s.elapsedMs ?? 0)})`,
      );
    },
  },
};

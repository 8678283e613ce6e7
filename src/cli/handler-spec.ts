/**
 * `agent --event-handler [TYPE[:NAME][,...]=]SCRIPT`: the flag's grammar (serf's), and the events a
 * handler's filter selects. Pure: running the scripts is event-handlers.ts.
 */
import { fail } from './usage.js';

/** Serf's event types, in serf's words. */
export const HANDLER_EVENT_TYPES = [
  'member-join',
  'member-leave',
  'member-failed',
  'member-update',
  'member-reap',
  'user',
  'query',
] as const;
export type HandlerEventType = (typeof HANDLER_EVENT_TYPES)[number];

/** One item of a handler's filter: a type ('*' for every type), and for user events and queries an exact name. */
export interface HandlerFilter {
  readonly type: HandlerEventType | '*';
  readonly name?: string;
}

export interface HandlerSpec {
  readonly filters: readonly HandlerFilter[];
  /** Run with /bin/sh -c, as serf does. */
  readonly script: string;
}

const isType = (s: string): s is HandlerEventType => (HANDLER_EVENT_TYPES as readonly string[]).includes(s);

/**
 * What comes before the first "=" is a filter when it looks like one (no spaces, slashes or quotes); an
 * unknown type in it is then an error, not a script (`memberjoin=./x.sh` must not silently run on everything).
 */
const FILTER_LIKE = /^[A-Za-z*][^\s/'"=]*$/;

const TYPES_HELP = `TYPE is one of ${HANDLER_EVENT_TYPES.join(', ')} or *; user:NAME and query:NAME select one name`;

/** Parses one --event-handler value, or fails with a message that says what to write. */
export function parseHandlerSpec(text: string): HandlerSpec {
  const flag = `--event-handler "${text}"`;
  const eq = text.indexOf('=');
  const prefix = eq > 0 ? text.slice(0, eq) : '';
  if (eq <= 0 || !FILTER_LIKE.test(prefix)) {
    if (text.trim() === '') fail(`${flag}: the script is empty (write [TYPE[:NAME]=]SCRIPT)`, 'agent');
    return { filters: [{ type: '*' }], script: text };
  }
  const script = text.slice(eq + 1);
  if (script.trim() === '') fail(`${flag}: no script after "=" (write [TYPE[:NAME]=]SCRIPT)`, 'agent');
  const filters = prefix.split(',').map((item): HandlerFilter => {
    const colon = item.indexOf(':');
    const type = colon < 0 ? item : item.slice(0, colon);
    if (type !== '*' && !isType(type))
      fail(
        `${flag}: unknown event type "${type}"; ${TYPES_HELP}. ` +
          'A script whose text has "=" before any space needs a filter in front: *=SCRIPT',
        'agent',
      );
    if (colon < 0) {
      if (type === 'query')
        fail(
          `${flag}: a query handler needs the query's name, query:NAME=SCRIPT (its stdout answers that name)`,
          'agent',
        );
      return { type };
    }
    const name = item.slice(colon + 1);
    if (type !== 'user' && type !== 'query')
      fail(`${flag}: only user and query events have names ("${item}" names a ${type} event)`, 'agent');
    if (name === '') fail(`${flag}: "${item}" has an empty name; write ${type} for every name`, 'agent');
    return { type, name };
  });
  return { filters, script };
}

/**
 * Whether a handler runs for an event of this type (and, for user events and queries, this name). A query
 * runs only the handlers that name it (query:NAME): each answers for its name, so `*` takes every other type.
 */
export function handles(spec: HandlerSpec, type: HandlerEventType, name?: string): boolean {
  if (type === 'query') return spec.filters.some((f) => f.type === 'query' && f.name === name);
  return spec.filters.some(
    (f) => (f.type === '*' || f.type === type) && (f.name === undefined || (name !== undefined && f.name === name)),
  );
}

/** The query names some handler answers. */
export function queryNames(specs: readonly HandlerSpec[]): string[] {
  return [...new Set(specs.flatMap((s) => s.filters.filter((f) => f.type === 'query').map((f) => f.name as string)))];
}

/** Parses --event-handler-timeout: a duration such as 10s, 500ms, 2m, or a bare number of seconds. */
export function parseHandlerTimeout(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000) : NaN;
  if (!Number.isFinite(ms) || ms < 1 || ms > 3_600_000)
    fail(`--event-handler-timeout must be a duration from 1ms to 1h such as 10s, 500ms or 2m (got "${text}")`, 'agent');
  return Math.round(ms);
}

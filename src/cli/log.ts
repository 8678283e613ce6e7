/**
 * The agent's logger: pino, one JSON line per record on stderr, in pino's standard shape
 * ({"level":30,"time":…,"pid":…,"hostname":…,"name":"scuttlebutt","msg":…} plus the record's fields).
 * The library only needs its pino-compatible Logger interface and is silent without one.
 */
import type { Logger } from '../runtime/api.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

const ignore = (): void => {};
/**
 * What `silent` logs through: nothing. Not an absent logger, which would make the library warn once through
 * process.emitWarning instead; and not pino, which with its dependencies is about 1 MB of an idle agent's memory.
 */
const SILENT: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };

/** Synchronous writes: records are few, and none may be lost when the agent exits right after one. */
export async function agentLogger(level: LogLevel, destination: number = 2): Promise<Logger> {
  if (level === 'silent') return SILENT;
  const { pino } = await import('pino');
  const logger: Logger = pino({ name: 'scuttlebutt', level }, pino.destination({ fd: destination, sync: true }));
  return logger;
}

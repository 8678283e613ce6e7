/**
 * The agent's logger: pino, one JSON line per record on stderr, in pino's standard shape
 * ({"level":30,"time":…,"pid":…,"hostname":…,"name":"scuttlebutt","msg":…} plus the record's fields).
 * The library only needs its pino-compatible Logger interface and is silent without one.
 */
import { pino, type Logger as Pino } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

/** Synchronous writes: records are few, and none may be lost when the agent exits right after one. */
export function agentLogger(level: LogLevel, destination: number = 2): Pino {
  return pino({ name: 'scuttlebutt', level }, pino.destination({ fd: destination, sync: true }));
}

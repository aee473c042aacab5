import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths pino replaces with "[redacted]": bearer tokens, job tokens, tenant keys and URL signatures
 * must never reach a log line.
 */
const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'url',
  '*.url',
  'signature',
  '*.signature',
];

export function createLogger(level: string, pretty: boolean): Logger {
  return pino({
    level,
    base: { service: 'inlet' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true } } } : {}),
  });
}

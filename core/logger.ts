import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON lines on stdout. Anything that could carry a secret is redacted by path, so a
 * config or request object logged by mistake does not leak credentials.
 */
export const createLogger = (level: string, name = 'fleetgate'): Logger =>
  pino({
    name,
    level,
    base: { pid: process.pid },
    redact: {
      paths: [
        '*.password',
        '*.token',
        '*.apiKey',
        '*.authorization',
        '*.headers.authorization',
        'env.*_KEY',
        'env.*_TOKEN',
        'env.*_PASSWORD',
        'env.*_SECRET',
        'env.*_SECRET_KEY',
        'env.DATABASE_URL',
      ],
      censor: '[redacted]',
    },
  });

/** A logger that drops everything (tests, library use). */
export const silentLogger = (): Logger => pino({ level: 'silent' });

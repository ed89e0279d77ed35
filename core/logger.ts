import { type DestinationStream, type Logger, pino } from 'pino';
import { EnvSchema } from '../schemas/config.js';

export type { Logger };

/** The environment variables that hold secrets: the credentials and every URL that may carry one. */
export const SECRET_ENV_NAMES: readonly string[] = Object.keys(EnvSchema.properties).filter((name) =>
  /_(KEY|KEYS|TOKEN|SECRET|PASSWORD)$|^DATABASE_URL$|^CLICKHOUSE_URL$/.test(name),
);

/*
 * pino's redaction paths take `*` only as a whole path segment: `env.*_KEY` matches nothing. So
 * each secret variable is listed by name, under `env` and under `config.env`.
 */
const REDACT_PATHS = [
  '*.password',
  '*.token',
  '*.apiKey',
  '*.authorization',
  '*.authToken',
  '*.botToken',
  '*.secretKey',
  '*.webhookSecret',
  '*.serviceAccountJson',
  '*.pass',
  '*.headers.authorization',
  ...SECRET_ENV_NAMES.flatMap((name) => [`env.${name}`, `config.env.${name}`]),
];

/**
 * Structured JSON lines on stdout. Anything that could carry a secret is redacted by path, so a
 * config or request object logged by mistake does not leak credentials.
 */
export const createLogger = (level: string, name = 'fleetgate', destination?: DestinationStream): Logger =>
  pino(
    {
      name,
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination,
  );

/** A logger that drops everything (tests, library use). */
export const silentLogger = (): Logger => pino({ level: 'silent' });

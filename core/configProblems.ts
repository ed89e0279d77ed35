import { Value } from '@sinclair/typebox/value';
import { type Env, EnvSchema, envVarSchema } from '../schemas/config.js';
import { parseTrustProxy } from './http/clientAddress.js';
import { isKeyRing, parseKeyRing } from './secrets/keyRing.js';

/** Variables named like this hold credentials: a problem names them but never shows their value. */
const SECRET_NAME = /(KEY|KEYS|TOKEN|SECRET|PASSWORD)$/;
/** The password of a URL (`scheme://user:password@host`), which a problem with DATABASE_URL or NATS_URL would show. */
const URL_PASSWORD = /(\/\/[^:/@,\s]*:)[^@/,\s]*@/g;

/** A variable's value as a problem may quote it: secrets hidden, URL passwords masked. */
export const shownValue = (name: string, value: string): string =>
  SECRET_NAME.test(name) ? '(secret, not shown)' : JSON.stringify(value.replace(URL_PASSWORD, '$1***@'));

const validTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/** Why e-mail runs in test mode (MAIL_TEST_MODE, or no SMTP host), or undefined when it sends. */
export const mailTestModeReason = (env: Env): string | undefined =>
  env.MAIL_TEST_MODE ? 'MAIL_TEST_MODE=true' : env.MAIL_HOST ? undefined : 'MAIL_HOST is not set';

/** Each variable the schema refuses, with what it expects. */
const schemaProblems = (raw: Record<string, string | undefined>, candidate: unknown): string[] =>
  [...Value.Errors(EnvSchema, candidate)].map((e) => {
    const name = e.path.replace(/^\//, '');
    const expects = (envVarSchema(name)?.description as string | undefined) ?? e.message;
    return `${name}=${shownValue(name, raw[name] ?? '')}: expected ${expects}`;
  });

/** What no single variable's schema can say: variables that only make sense together. */
const crossFieldProblems = (env: Env): string[] => {
  const problems: string[] = [];
  if (env.HANDLER_BACKOFF_BASE_MS > env.HANDLER_BACKOFF_MAX_MS) {
    problems.push('HANDLER_BACKOFF_BASE_MS must not exceed HANDLER_BACKOFF_MAX_MS');
  }
  if (env.INGEST_THREAD === 'worker' && !(env.NATS_URL && env.DATABASE_URL)) {
    problems.push('INGEST_THREAD=worker needs NATS_URL and DATABASE_URL: the embedded log and PGlite live in the main thread');
  }
  if (env.NOTIFICATIONS_TIME_ZONE !== undefined && !validTimeZone(env.NOTIFICATIONS_TIME_ZONE)) {
    problems.push(
      `NOTIFICATIONS_TIME_ZONE=${JSON.stringify(env.NOTIFICATIONS_TIME_ZONE)}: expected an IANA time zone this Node knows`,
    );
  }
  if (!validTimeZone(env.MAIL_TIME_ZONE)) {
    problems.push(`MAIL_TIME_ZONE=${JSON.stringify(env.MAIL_TIME_ZONE)}: expected an IANA time zone, e.g. Europe/Moscow`);
  }
  if (mailTestModeReason(env) === undefined && !env.MAIL_FROM_ADDRESS) {
    problems.push('MAIL_FROM_ADDRESS: required to send e-mail (MAIL_HOST is set)');
  }
  if (env.MAIL_USERNAME && env.MAIL_PASSWORD === undefined) problems.push('MAIL_PASSWORD: required with MAIL_USERNAME');
  if (!env.FCM_TEST_MODE && !env.FCM_SERVICE_ACCOUNT) {
    // The CRM's FCM_API_KEY was a legacy server key; Google shut that API down in 2024.
    problems.push('FCM_TEST_MODE=false needs FCM_SERVICE_ACCOUNT (a service-account JSON file path)');
  }
  if (!env.TELEGRAM_TEST_MODE && !env.TELEGRAM_BOT_TOKEN) problems.push('TELEGRAM_TEST_MODE=false needs TELEGRAM_BOT_TOKEN');
  const ring = parseKeyRing(env.SECRETS_KEYS, env.SECRETS_ACTIVE_KEY);
  if (!isKeyRing(ring)) problems.push(...ring.problems);
  if (env.PAYMENT_RECEIPT_CHANNELS) {
    const unknown = env.PAYMENT_RECEIPT_CHANNELS.split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '' && c !== 'sms' && c !== 'email');
    if (unknown.length > 0)
      problems.push(`PAYMENT_RECEIPT_CHANNELS: unknown channel(s) ${unknown.join(', ')}; expected sms, email`);
  }
  const trustProxy = parseTrustProxy(env.TRUST_PROXY ?? 'false');
  if (typeof trustProxy === 'string') {
    problems.push(
      `TRUST_PROXY=${JSON.stringify(env.TRUST_PROXY)}: ${trustProxy}; expected ${envVarSchema('TRUST_PROXY')?.description}`,
    );
  }
  return problems;
};

/**
 * Every problem with the variables, schema and cross-field checks together, each listed once,
 * so one start-up names all of them. `candidate` is `raw` coerced and defaulted.
 */
export const configProblems = (raw: Record<string, string | undefined>, candidate: Record<string, unknown>): string[] => [
  ...new Set([...schemaProblems(raw, candidate), ...crossFieldProblems(candidate as Env)]),
];

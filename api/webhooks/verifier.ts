import { createHash, timingSafeEqual } from 'node:crypto';
import type { WebhookProvider } from '../../schemas/events/webhook.js';
import type { Reply } from '../route.js';

/** What a verifier sees of a delivery. */
export interface WebhookRequest {
  rawBody: Buffer;
  /** Lower-case names. */
  headers: Readonly<Record<string, string>>;
  remoteAddress: string;
  /** The full public URL the provider called, with the query string (Twilio signs it). */
  url: string;
  query: URLSearchParams;
}

/** One provider event in a delivery (SMS.ru batches several). */
export interface ProviderEvent {
  providerEventId?: string;
  eventType?: string;
}

/**
 * The outcome of checking one delivery. `valid`: authentic, process each event once.
 * `invalid`: authentication failed (401). `malformed`: authentic but unusable (400).
 * `unverifiable`: could not be checked right now, e.g. the provider's API is down (5xx, so the
 * provider retries). `events` on a refused delivery are what it claims, for the audit only.
 */
export type Verification =
  | {
      verdict: 'valid';
      events: ProviderEvent[];
      /**
       * What to record and act on instead of the posted body, when the provider's authenticity
       * comes from asking its API (YooKassa: the re-fetched object), not from a signature over it.
       */
      body?: Buffer;
    }
  | { verdict: 'invalid' | 'malformed' | 'unverifiable'; reason: string; events: ProviderEvent[] };

/** One provider's authentication scheme. Outcomes are data; only a programming error throws. */
export interface WebhookVerifier {
  provider: WebhookProvider;
  /**
   * Its secret (or credentials) are set. An unconfigured provider's URL answers 404 and records
   * nothing: no delivery to it can be genuine, and anyone could otherwise fill the log.
   */
  configured: boolean;
  /** Headers recorded with the event besides the common ones; never a secret. */
  recordedHeaders: readonly string[];
  /** The answer the provider expects for an accepted (or repeated) delivery. */
  ack: Reply;
  verify(req: WebhookRequest): Promise<Verification>;
  /**
   * Runs for a verified, first-seen event just before it is appended (Telegram: the update joins
   * its chat's queue, so a later update of the chat cannot overtake it). A failure answers 5xx
   * and appends nothing: the provider delivers again.
   */
  beforeAppend?(body: Buffer): Promise<void>;
}

export const JSON_ACK: Reply = { status: 200, body: { received: true } };

export const notConfigured = (): Verification => ({ verdict: 'invalid', reason: 'not configured', events: [] });

/**
 * Constant-time string comparison. Comparing digests makes the lengths equal, so neither the
 * content nor the length of the secret leaks through timing.
 */
export const safeEqual = (a: string | Buffer, b: string | Buffer): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** JSON of a body, or undefined when it is not a JSON object. */
export const parseJsonObject = (raw: Buffer): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

export const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** Drops undefined fields; bounds what an unauthenticated sender can make us store (schema limits). */
export const providerEvent = (providerEventId: string | undefined, eventType: string | undefined): ProviderEvent => {
  const e: ProviderEvent = {};
  if (providerEventId !== undefined) e.providerEventId = providerEventId.slice(0, 512);
  if (eventType !== undefined) e.eventType = eventType.slice(0, 256);
  return e;
};

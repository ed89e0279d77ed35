import { createHash } from 'node:crypto';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { hasAcceptedWebhookEvent } from '../../core/readModels/webhookEvents.js';
import { recordTelegramUpdate } from '../../core/telegram/chatQueueEntry.js';
import {
  WEBHOOK_PROVIDERS,
  WEBHOOK_RECEIVED,
  type WebhookProvider,
  type WebhookReceivedData,
  webhookSubject,
} from '../../schemas/events/webhook.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import type { Reply, RequestContext } from '../route.js';
import { smsruVerifier } from './smsru.js';
import { stripeVerifier } from './stripe.js';
import { telegramVerifier } from './telegram.js';
import { twilioVerifier } from './twilio.js';
import type { ProviderEvent, Verification, WebhookVerifier } from './verifier.js';
import { yookassaVerifier } from './yookassa.js';

/** The parts of a request a webhook needs (a test can build one without the HTTP pipeline). */
export type WebhookContext = Pick<RequestContext, 'path' | 'rawQuery' | 'headers' | 'remoteAddress' | 'rawBody'>;

/** Headers worth keeping for every provider; anything else only when its verifier names it. */
const COMMON_HEADERS = ['content-type', 'content-length', 'user-agent'];

/** The integrations whose credentials the verifiers use. */
const VERIFIER_INTEGRATIONS = new Set(['payment.stripe', 'sms.twilio', 'telegram', 'payment.yookassa']);

/**
 * One verifier per provider, from the config slice each needs, or from the run-time integration
 * settings where the process has them (rebuilt in place when they change, so a new webhook secret
 * verifies the next delivery).
 */
export const webhookVerifiers = (deps: ApiDeps): ReadonlyMap<WebhookProvider, WebhookVerifier> => {
  const w = deps.config.webhooks;
  const now = deps.now ?? (() => new Date());
  const settings = deps.integrations?.settings;
  const text = (v: unknown, fallback: string | undefined) =>
    typeof v === 'string' && v !== '' ? v : settings ? undefined : fallback;
  const build = () =>
    [
      stripeVerifier({
        secret: text(settings?.value('payment.stripe', 'webhookSecret'), w.stripeSecret),
        toleranceSeconds: w.stripeToleranceSeconds,
        now,
      }),
      twilioVerifier({ authToken: text(settings?.value('sms.twilio', 'authToken'), w.twilioAuthToken) }),
      telegramVerifier({
        secret: text(settings?.value('telegram', 'webhookSecret'), w.telegramSecret),
        record: (update) => recordTelegramUpdate(deps.sql, update),
      }),
      yookassaVerifier({
        ...w.yookassa,
        ...(settings
          ? {
              apiUrl: String(settings.value('payment.yookassa', 'apiUrl') ?? w.yookassa.apiUrl),
              shopId: text(settings.value('payment.yookassa', 'shopId'), undefined),
              secretKey: text(settings.value('payment.yookassa', 'secretKey'), undefined),
            }
          : {}),
        fetch: deps.fetch ?? fetch,
      }),
      smsruVerifier({ token: w.smsru.token }),
    ].map((v) => [v.provider, v] as const);
  const verifiers = new Map(build());
  settings?.onChange((changed) => {
    if (![...changed].some((n) => VERIFIER_INTEGRATIONS.has(n))) return;
    for (const [k, v] of build()) verifiers.set(k, v);
  });
  return verifiers;
};

/** The URL the provider called as it sees it: Twilio signs exactly that, scheme and host included. */
const publicUrl = (deps: ApiDeps, ctx: WebhookContext) => {
  const base = deps.config.api.publicUrl ?? `http://${ctx.headers.host ?? 'localhost'}`;
  return base + ctx.path + (ctx.rawQuery ? `?${ctx.rawQuery}` : '');
};

/**
 * What a refused delivery keeps of its body besides the digest: enough to see what was sent,
 * too little for an unauthenticated sender to fill the permanent log (issue 23).
 */
export const REFUSED_BODY_PREFIX_BYTES = 512;

/** Long provider ids are hashed so the log's message id stays bounded. */
const dedupeKey = (provider: string, eventId: string) =>
  `webhook:${provider}:${eventId.length <= 200 ? eventId : createHash('sha256').update(eventId).digest('base64url')}`;

const isProvider = (p: string): p is WebhookProvider => (WEBHOOK_PROVIDERS as readonly string[]).includes(p);

/**
 * `POST /webhooks/{provider}`: verifies the delivery, appends one `webhook.received` per provider
 * event (a refused delivery as one event with its body's digest and first bytes, so every
 * delivery to a configured provider is audited), and answers as the provider expects. An
 * unconfigured provider answers 404 and appends nothing. A provider event id seen before is acknowledged and recorded as a duplicate,
 * never processed twice: the log's message-id dedupe catches a quick repeat, `webhook_events`
 * one that comes after the log's dedupe window.
 */
export const handleWebhook = async (
  deps: ApiDeps,
  provider: string,
  ctx: WebhookContext,
  verifiers: ReadonlyMap<WebhookProvider, WebhookVerifier> = webhookVerifiers(deps),
): Promise<Reply> => {
  if (!isProvider(provider)) throw new HttpProblem('GW_ERR_ROUTE_NOT_FOUND', `no webhook for provider "${provider}"`);
  const verifier = verifiers.get(provider) as WebhookVerifier;
  if (!verifier.configured) throw new HttpProblem('GW_ERR_ROUTE_NOT_FOUND', `no webhook is configured for "${provider}"`);
  const subject = webhookSubject(provider);
  const verification: Verification = await verifier.verify({
    rawBody: ctx.rawBody,
    headers: ctx.headers,
    remoteAddress: ctx.remoteAddress,
    url: publicUrl(deps, ctx),
    query: new URLSearchParams(ctx.rawQuery),
  });
  const time = (deps.now ?? (() => new Date()))();
  const headers: Record<string, string> = {};
  for (const name of [...COMMON_HEADERS, ...verifier.recordedHeaders]) {
    const value = ctx.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const base = {
    provider,
    remoteAddr: ctx.remoteAddress,
    headers,
    payloadSha256: createHash('sha256').update(ctx.rawBody).digest('hex'),
    receivedAt: time.toISOString(),
  };
  const refused = verification.verdict !== 'valid';
  const body = refused
    ? {
        bodyBase64: ctx.rawBody.subarray(0, REFUSED_BODY_PREFIX_BYTES).toString('base64'),
        bodyBytes: ctx.rawBody.length,
      }
    : { bodyBase64: (verification.body ?? ctx.rawBody).toString('base64') };
  const event = (e: ProviderEvent, extra: { signatureValid: boolean; duplicate: boolean; error?: string }) => {
    const data: WebhookReceivedData = { ...base, ...body, ...e, ...extra };
    if (ctx.headers['content-type'] !== undefined) data.contentType = ctx.headers['content-type'];
    return newEvent({ type: WEBHOOK_RECEIVED, subject, source: `webhooks/${provider}`, time, data });
  };

  if (verification.verdict !== 'valid') {
    const { verdict, reason } = verification;
    // A refused delivery proves no event; a single claimed id is still kept for the audit.
    const claim = verification.events.length === 1 ? (verification.events[0] as ProviderEvent) : {};
    const e = event(claim, { signatureValid: verdict === 'malformed', duplicate: false, error: reason });
    await deps.log.append(subject, e, { msgId: e.id });
    deps.logger.warn({ provider, verdict, reason, eventId: e.id, remoteAddress: ctx.remoteAddress }, 'webhook refused');
    if (verdict === 'invalid') throw new HttpProblem('GW_ERR_INVALID_SIGNATURE', reason);
    if (verdict === 'malformed') throw new HttpProblem('GW_ERR_VALIDATION', reason);
    // The provider retries a 5xx; nothing was accepted.
    throw new HttpProblem('GW_ERR_PROVIDER_UNAVAILABLE', `the delivery could not be verified now (${reason}); retry later`, {
      headers: { 'retry-after': '30' },
    });
  }

  const events = verification.events.length > 0 ? verification.events : [{}];
  for (const pe of events) {
    const id = pe.providerEventId;
    if (id !== undefined && (await hasAcceptedWebhookEvent(deps.sql, provider, id))) {
      const e = event(pe, { signatureValid: true, duplicate: true });
      await deps.log.append(subject, e, { msgId: e.id });
      continue;
    }
    const e = event(pe, { signatureValid: true, duplicate: false });
    await verifier.beforeAppend?.(verification.body ?? ctx.rawBody);
    const ack = await deps.log.append(subject, e, { msgId: id === undefined ? e.id : dedupeKey(provider, id) });
    if (ack.duplicate) {
      // The log already holds this provider event: keep this delivery as an audited duplicate.
      const dup = event(pe, { signatureValid: true, duplicate: true });
      await deps.log.append(subject, dup, { msgId: dup.id });
    }
  }
  return verifier.ack;
};

import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

/** The providers that may call `POST /webhooks/{provider}`; each is one token of the subject. */
export const WebhookProvider = Type.Union([
  Type.Literal('stripe'),
  Type.Literal('twilio'),
  Type.Literal('telegram'),
  Type.Literal('yookassa'),
  Type.Literal('smsru'),
]);
export type WebhookProvider = Static<typeof WebhookProvider>;
export const WEBHOOK_PROVIDERS: readonly WebhookProvider[] = ['stripe', 'twilio', 'telegram', 'yookassa', 'smsru'];

/** Log subject of a provider's deliveries (stream EVENTS). */
export const webhookSubject = (provider: WebhookProvider) => `evt.webhook.${provider}`;

/**
 * One provider event as it arrived at `POST /webhooks/{provider}`, valid or not: the audit trail
 * and the input of whatever processes provider events. Only deliveries with `signatureValid`,
 * no `error` and not `duplicate` may be acted upon.
 */
export const WebhookReceivedData = Type.Object(
  {
    provider: WebhookProvider,
    /** The provider's id of the event (Stripe `evt_…`, `${MessageSid}:${MessageStatus}`, …); on a refused delivery, what it claimed. */
    providerEventId: Type.Optional(Type.String({ maxLength: 512 })),
    /** The provider's event type (Stripe `type`, YooKassa `event`, Twilio `MessageStatus`, …). */
    eventType: Type.Optional(Type.String({ maxLength: 256 })),
    /** The provider's authentication held: signature, secret token, or allowlist plus re-fetch. */
    signatureValid: Type.Boolean(),
    /** This provider event id was already received and accepted; recorded for audit, not processed again. */
    duplicate: Type.Boolean(),
    /** Why the delivery was refused or could not be verified. */
    error: Type.Optional(Type.String()),
    remoteAddr: Type.String(),
    /** Non-secret headers that bear on verification (never Authorization or secret tokens). */
    headers: Type.Record(Type.String(), Type.String()),
    contentType: Type.Optional(Type.String()),
    /**
     * The request body byte for byte; of a refused delivery only its first bytes (512 since
     * issue 23), with `bodyBytes` and `payloadSha256` telling the whole.
     */
    bodyBase64: Type.String({ contentEncoding: 'base64' }),
    /** The whole body's size, when `bodyBase64` holds only its beginning (a refused delivery). */
    bodyBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Hex SHA-256 of the raw body. */
    payloadSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    receivedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type WebhookReceivedData = Static<typeof WebhookReceivedData>;

/** Subject of a handler's processing record of a provider's delivery (outside the handlers' `evt.webhook.*` filter). */
export const webhookProcessedSubject = (provider: WebhookProvider) => `evt.webhook.${provider}.processed`;

/**
 * `webhook.processed`: a handler acted on a `webhook.received` (`applied`), found nothing to
 * act on (`ignored`, e.g. a message this gateway never sent), or gave up on it (`failed`, e.g.
 * a payment it could not confirm); folded into `webhook_events`.
 */
export const WebhookProcessedData = Type.Object(
  {
    webhookEventId: Type.String(),
    outcome: Type.Union([Type.Literal('applied'), Type.Literal('ignored'), Type.Literal('failed')]),
    detail: Type.Optional(Type.String({ maxLength: 1_000 })),
  },
  { additionalProperties: false },
);
export type WebhookProcessedData = Static<typeof WebhookProcessedData>;

/** Every webhook event, declared once: type literal and data schema. */
export const webhookEvents = eventDomain({
  received: defineEvent('webhook.received', WebhookReceivedData),
  processed: defineEvent('webhook.processed', WebhookProcessedData),
});
export type WebhookEvent = EventUnion<typeof webhookEvents.defs>;

export const WEBHOOK_RECEIVED = webhookEvents.defs.received.type;
export const WEBHOOK_PROCESSED = webhookEvents.defs.processed.type;

import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  JSON_ACK,
  notConfigured,
  parseJsonObject,
  providerEvent,
  str,
  type Verification,
  type WebhookVerifier,
} from './verifier.js';

export interface StripeVerifierOptions {
  /** The endpoint's signing secret (`whsec_…`). */
  secret: string | undefined;
  /** Largest signature age; 0 disables the check (as stripe-node's `tolerance`). */
  toleranceSeconds: number;
  now: () => Date;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** `t=…,v1=…[,v1=…][,v0=…]` into the timestamp and every v1 signature. */
const parseHeader = (header: string) => {
  let timestamp: number | undefined;
  const v1: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't' && /^\d+$/.test(value)) timestamp = Number(value);
    else if (key === 'v1') v1.push(value);
  }
  return { timestamp, v1 };
};

/**
 * Stripe's `Stripe-Signature`: hex HMAC-SHA256 of `${t}.${rawBody}` under the endpoint secret.
 * Any v1 may match (several appear while a secret is rolled); only an old `t` is refused, as
 * stripe-node does. [docs.stripe.com/webhooks#verify-manually]
 */
export const stripeVerifier = (opts: StripeVerifierOptions): WebhookVerifier => ({
  provider: 'stripe',
  configured: Boolean(opts.secret),
  recordedHeaders: ['stripe-signature'],
  ack: JSON_ACK,
  async verify({ rawBody, headers }): Promise<Verification> {
    const body = parseJsonObject(rawBody);
    const claimed = [providerEvent(str(body?.id), str(body?.type))];
    if (!opts.secret) return notConfigured();
    const header = headers['stripe-signature'];
    if (!header) return { verdict: 'invalid', reason: 'missing Stripe-Signature header', events: claimed };
    const { timestamp, v1 } = parseHeader(header);
    if (timestamp === undefined) return { verdict: 'invalid', reason: 'no timestamp in Stripe-Signature', events: claimed };
    if (v1.length === 0) return { verdict: 'invalid', reason: 'no v1 signature in Stripe-Signature', events: claimed };
    // The raw bytes, not a re-encoded string: any change to the body must break the signature.
    const expected = createHmac('sha256', opts.secret).update(`${timestamp}.`).update(rawBody).digest();
    const matches = v1.some((sig) => HEX_SHA256.test(sig) && timingSafeEqual(Buffer.from(sig, 'hex'), expected));
    if (!matches) return { verdict: 'invalid', reason: 'no signature matches the payload', events: claimed };
    const age = Math.floor(opts.now().getTime() / 1000) - timestamp;
    if (opts.toleranceSeconds > 0 && age > opts.toleranceSeconds) {
      return { verdict: 'invalid', reason: `timestamp outside the tolerance zone (${age} s old)`, events: claimed };
    }
    if (!body || !str(body.id)) return { verdict: 'malformed', reason: 'the payload is not a Stripe event', events: [] };
    return { verdict: 'valid', events: claimed };
  },
});

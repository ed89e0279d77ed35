import { createHash, createHmac } from 'node:crypto';
import { JSON_ACK, notConfigured, providerEvent, safeEqual, type Verification, type WebhookVerifier } from './verifier.js';

/**
 * The URL with and without its default port: Twilio may have signed either form of the
 * configured URL (twilio-node `validateRequest` accepts both).
 */
const urlVariants = (url: string): string[] => {
  const m = /^(https?:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!m) return [url];
  const [, scheme = '', authority = '', rest = ''] = m;
  const portAt = authority.indexOf(':', authority.lastIndexOf(']') + 1);
  const host = portAt < 0 ? authority : authority.slice(0, portAt);
  const defaultPort = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  return [...new Set([url, scheme + host + rest, scheme + host + defaultPort + rest])];
};

/** fullURL + each param name and value, names sorted, repeated values de-duplicated and sorted. */
export const twilioSignedString = (url: string, params: URLSearchParams): string => {
  let data = url;
  for (const name of [...new Set(params.keys())].sort()) {
    for (const value of [...new Set(params.getAll(name))].sort()) data += name + value;
  }
  return data;
};

/**
 * Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 under the auth token over the public URL and
 * the sorted form params; a JSON body is covered by `?bodySHA256=` in the signed URL instead.
 * [twilio.com/docs/usage/webhooks/webhooks-security]
 */
export const twilioVerifier = (opts: { authToken: string | undefined }): WebhookVerifier => ({
  provider: 'twilio',
  configured: Boolean(opts.authToken),
  recordedHeaders: ['x-twilio-signature', 'i-twilio-idempotency-token', 'host'],
  ack: JSON_ACK,
  async verify({ rawBody, headers, url, query }): Promise<Verification> {
    const bodyHash = query.get('bodySHA256');
    const params = bodyHash === null ? new URLSearchParams(rawBody.toString('utf8')) : new URLSearchParams();
    const sid = params.get('MessageSid') ?? params.get('SmsSid') ?? undefined;
    const status = params.get('MessageStatus') ?? params.get('SmsStatus') ?? undefined;
    const claimed = [providerEvent(sid && status ? `${sid}:${status}` : sid, status)];
    if (!opts.authToken) return notConfigured();
    const signature = headers['x-twilio-signature'];
    if (!signature) return { verdict: 'invalid', reason: 'missing X-Twilio-Signature header', events: claimed };
    const token = opts.authToken;
    const matches = urlVariants(url).some((u) =>
      safeEqual(createHmac('sha1', token).update(twilioSignedString(u, params), 'utf8').digest('base64'), signature),
    );
    if (!matches) return { verdict: 'invalid', reason: 'signature does not match the URL and parameters', events: claimed };
    if (bodyHash !== null && !safeEqual(createHash('sha256').update(rawBody).digest('hex'), bodyHash.toLowerCase())) {
      return { verdict: 'invalid', reason: 'body does not match bodySHA256', events: claimed };
    }
    return { verdict: 'valid', events: claimed };
  },
});

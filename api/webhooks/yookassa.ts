import ipaddr from 'ipaddr.js';
import { GatewayError } from '../../schemas/errors.js';
import {
  JSON_ACK,
  notConfigured,
  parseJsonObject,
  providerEvent,
  str,
  type Verification,
  type WebhookVerifier,
} from './verifier.js';

export interface YooKassaVerifierOptions {
  /** API base, e.g. `https://api.yookassa.ru/v3`. */
  apiUrl: string;
  shopId: string | undefined;
  secretKey: string | undefined;
  /** Addresses or CIDR ranges, IPv4 or IPv6. */
  allowlist: readonly string[];
  fetch: typeof fetch;
  timeoutMs?: number;
}

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

const parseRange = (entry: string): Range => {
  try {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const addr = ipaddr.parse(entry);
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  } catch (cause) {
    throw new GatewayError('GW_ERR_CONFIG', `YOOKASSA_WEBHOOK_ALLOWLIST: "${entry}" is not an address or CIDR range`, { cause });
  }
};

/** Is `address` inside any range? An IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`) counts as IPv4. */
export const allowlistMatcher = (allowlist: readonly string[]) => {
  const ranges = allowlist.map(parseRange);
  return (address: string): boolean => {
    if (!ipaddr.isValid(address)) return false;
    const addr = ipaddr.process(address);
    return ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
  };
};

/** The API collection that holds the notified object; payouts, deals etc. are not ours to confirm. */
const objectKind = (event: string) =>
  event.startsWith('payment.') ? 'payment' : event.startsWith('refund.') ? 'refund' : undefined;

/** What the API answered for an object: its own id and status, and its bytes as sent. */
interface Fetched {
  id: unknown;
  status: unknown;
  raw: string;
}

/**
 * YooKassa signs nothing (PROVIDERS.md §3): a notification counts only if it comes from an
 * allowlisted address AND the API, asked with our credentials, reports the object in the
 * notified status. The posted body is only a hint of which object to fetch: the event id
 * (`${kind}.${status}:${id}`, the dedupe key) and the recorded body come from the re-fetched
 * object, so a forged body can neither change what is stored nor take the dedupe slot of the
 * genuine notification (issue 23). YooKassa repeats notifications.
 */
export const yookassaVerifier = (opts: YooKassaVerifierOptions): WebhookVerifier => {
  const allowed = allowlistMatcher(opts.allowlist);
  const refetch = async (path: string): Promise<Fetched | number | Error> => {
    try {
      const res = await opts.fetch(opts.apiUrl + path, {
        headers: { authorization: `Basic ${Buffer.from(`${opts.shopId}:${opts.secretKey}`).toString('base64')}` },
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      if (!res.ok) {
        await res.body?.cancel();
        return res.status;
      }
      const raw = await res.text();
      const object = parseJsonObject(Buffer.from(raw));
      if (!object) return new Error('the API answered something other than a JSON object');
      return { id: object.id, status: object.status, raw };
    } catch (e) {
      return e as Error;
    }
  };
  return {
    provider: 'yookassa',
    configured: Boolean(opts.shopId && opts.secretKey),
    recordedHeaders: [],
    ack: JSON_ACK,
    async verify({ rawBody, remoteAddress }): Promise<Verification> {
      const body = parseJsonObject(rawBody);
      const object = (body?.object ?? undefined) as Record<string, unknown> | undefined;
      const event = str(body?.event);
      const id = str(object?.id);
      const claimed = [providerEvent(event && id ? `${event}:${id}` : undefined, event)];
      if (!opts.shopId || !opts.secretKey) return notConfigured();
      if (!allowed(remoteAddress))
        return { verdict: 'invalid', reason: `source address ${remoteAddress} is not allowlisted`, events: claimed };
      const kind = event && objectKind(event);
      if (!kind || !id || body?.type !== 'notification') {
        return { verdict: 'invalid', reason: 'not a payment or refund notification', events: claimed };
      }
      const fetched = await refetch(`/${kind}s/${encodeURIComponent(id)}`);
      if (fetched instanceof Error)
        return { verdict: 'unverifiable', reason: `re-fetch failed: ${fetched.message}`, events: claimed };
      // 404 means no such object in our shop: a forgery, not an outage. Other errors may pass.
      if (fetched === 404) return { verdict: 'invalid', reason: 'the object does not exist at YooKassa', events: claimed };
      if (typeof fetched === 'number')
        return { verdict: 'unverifiable', reason: `re-fetch answered ${fetched}`, events: claimed };
      const actual = `${kind}.${String(fetched.status)}`;
      if (fetched.id !== id || actual !== event) {
        return {
          verdict: 'invalid',
          reason: `notified ${event} but YooKassa reports ${actual}`.slice(0, 512),
          events: claimed,
        };
      }
      return {
        verdict: 'valid',
        events: [providerEvent(`${actual}:${id}`, actual)],
        body: Buffer.from(`{"type":"notification","event":${JSON.stringify(actual)},"object":${fetched.raw}}`),
      };
    },
  };
};

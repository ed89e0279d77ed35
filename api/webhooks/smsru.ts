import { notConfigured, type ProviderEvent, providerEvent, safeEqual, type WebhookVerifier } from './verifier.js';

/**
 * `data[0]`, `data[1]`, … of the form body; each record is `type\nsms_id\nstatus\nunix time`.
 * An `sms_status` record is one provider event (id = sms_id:status, since one message reports
 * several statuses); other record types keep only their type.
 */
export const smsruRecords = (rawBody: Buffer): ProviderEvent[] => {
  const form = new URLSearchParams(rawBody.toString('utf8'));
  const records: [number, string][] = [];
  for (const [key, value] of form) {
    const m = /^data\[(\d+)\]$/.exec(key);
    if (m) records.push([Number(m[1]), value]);
  }
  return records
    .sort((a, b) => a[0] - b[0])
    .map(([, value]) => {
      const [type, smsId, status] = value.split('\n').map((l) => l.trim());
      return type === 'sms_status' && smsId && status
        ? providerEvent(`${smsId}:${status}`, type)
        : providerEvent(undefined, type || undefined);
    });
};

/**
 * SMS.ru signs nothing (PROVIDERS.md §1): the callback URL registered with SMS.ru carries a
 * secret `?token=`. SMS.ru re-sends until the answer is the text `100`.
 */
export const smsruVerifier = (opts: { token: string | undefined }): WebhookVerifier => ({
  provider: 'smsru',
  configured: Boolean(opts.token),
  recordedHeaders: [],
  ack: { status: 200, raw: '100', type: 'text/plain' },
  async verify({ rawBody, query }) {
    const claimed = smsruRecords(rawBody);
    if (!opts.token) return notConfigured();
    const token = query.get('token');
    if (token === null) return { verdict: 'invalid', reason: 'missing ?token=', events: claimed };
    if (!safeEqual(token, opts.token)) return { verdict: 'invalid', reason: 'token is wrong', events: claimed };
    if (claimed.length === 0) return { verdict: 'malformed', reason: 'no data[N] records', events: [] };
    return { verdict: 'valid', events: claimed };
  },
});

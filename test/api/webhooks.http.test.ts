import { request } from 'node:http';
import Stripe from 'stripe';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

const stripe = new Stripe('sk_test_unused');
const SECRET = 'whsec_http_test';
const TWILIO_TOKEN = 'twilio-http-token';
let store: PostgresStore;
let api: ApiHarness;

beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store, { STRIPE_WEBHOOK_SECRET: SECRET, TWILIO_AUTH_TOKEN: TWILIO_TOKEN });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const stripeDelivery = (payload: string, header: string) =>
  fetch(`${api.url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': header },
    body: payload,
  });

const rows = () =>
  store.sql<{ provider_event_id: string | null; signature_valid: boolean; status: string }[]>`
    SELECT provider_event_id, signature_valid, status FROM webhook_events ORDER BY received_at, id`;

describe('POST /webhooks/{provider} through the server', () => {
  it('accepts a Stripe delivery signed by the stripe package, acknowledges its replay once, refuses tampering and stale signatures, and records all', async () => {
    // Bytes a JSON round trip would change (spacing, key order, unicode): the signature covers them as sent.
    const payload =
      '{"id":"evt_http_1", "object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_1","name":"Ёлка"}}}';
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret: SECRET });
    expect((await stripeDelivery(payload, header)).status).toBe(200);
    expect((await stripeDelivery(payload, header)).status).toBe(200); // the provider retried
    const tampered = await stripeDelivery(payload.replace('cs_1', 'cs_2'), header);
    expect(tampered.status).toBe(401);
    expect(((await tampered.json()) as { code: string }).code).toBe('GW_ERR_INVALID_SIGNATURE');
    const stale = stripe.webhooks.generateTestHeaderString({
      payload,
      secret: SECRET,
      timestamp: Math.floor(Date.now() / 1000) - 3_600,
    });
    expect((await stripeDelivery(payload, stale)).status).toBe(401);

    const events = (await api.log.read('EVENTS', 100, { filterSubject: 'evt.webhook.stripe' })).flatMap((m) => m.events);
    const data = events.map(
      (e) => e.data as { signatureValid: boolean; duplicate: boolean; bodyBase64: string; providerEventId?: string },
    );
    // The replay is recorded at most as a duplicate (or dropped by the log's dedupe), never processed again.
    expect(data.filter((d) => d.signatureValid && !d.duplicate && d.providerEventId === 'evt_http_1')).toHaveLength(1);
    expect(data.filter((d) => !d.signatureValid)).toHaveLength(2);
    expect(Buffer.from(data[0]?.bodyBase64 ?? '', 'base64').toString('utf8')).toBe(payload);
    await api.caughtUp();
    const recorded = await rows();
    expect(recorded.filter((r) => r.signature_valid && r.status === 'received')).toHaveLength(1);
    expect(recorded.filter((r) => !r.signature_valid && r.status === 'rejected')).toHaveLength(2);
  });

  it('verifies a Twilio status callback signed by the twilio package over the URL it called', async () => {
    const params = { MessageSid: 'SM123', MessageStatus: 'delivered', To: '+79991234567', AccountSid: 'AC1' };
    const url = `${api.url}/webhooks/twilio?tenant=a`;
    const signature = twilio.getExpectedTwilioSignature(TWILIO_TOKEN, url, params);
    const send = (sig: string, body: Record<string, string>) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig },
        body: new URLSearchParams(body).toString(),
      });
    expect((await send(signature, params)).status).toBe(200);
    expect((await send(signature, { ...params, MessageStatus: 'failed' })).status).toBe(401);
  });

  /** Sends the head and `sent` bytes of a body, then waits for the answer without sending the rest. */
  const partialPost = (path: string, headers: Record<string, string>, sent: number) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${api.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } });
      const timer = setTimeout(() => reject(new Error('no answer before the whole body was sent')), 5_000);
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('error', () => {});
      req.write(Buffer.alloc(sent, 0x20));
    });

  it('refuses a webhook body over WEBHOOK_MAX_BODY_BYTES (64 KiB) with 413 before reading it all, appending nothing', async () => {
    const before = await api.log.lastSeq('EVENTS');
    // Declared: refused from the Content-Length, after 1 KiB of 10 MiB.
    const declared = await partialPost('/webhooks/stripe', { 'content-length': String(10 * 1_048_576) }, 1_024);
    expect(declared.status).toBe(413);
    expect((JSON.parse(declared.body) as { code: string }).code).toBe('GW_ERR_PAYLOAD_TOO_LARGE');
    // Chunked: refused once the bytes read pass the limit, the rest never sent.
    const chunked = await partialPost('/webhooks/stripe', { 'transfer-encoding': 'chunked' }, 128 * 1_024);
    expect(chunked.status).toBe(413);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });
});

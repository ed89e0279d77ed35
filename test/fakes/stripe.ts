import { createHash, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

type Obj = Record<string, unknown> & { id: string };

export interface FakeStripe {
  /** `STRIPE_API_URL` for the gateway. */
  url: string;
  sessions: Map<string, Obj>;
  intents: Map<string, Obj>;
  refunds: Map<string, Obj>;
  requests: { method: string; path: string; body: string; idempotencyKey: string | undefined }[];
  failNext(status: number): void;
  /** The customer paid the session; returns the signed `checkout.session.completed` delivery. */
  pay(sessionId: string): { body: string; signature: string };
  /** A signed delivery of any event for `object`. */
  event(type: string, object: Obj, opts?: { timestamp?: number; secret?: string }): { body: string; signature: string };
  close(): Promise<void>;
}

/** `a[b][0][c]=v` form fields into nested objects (arrays as index-keyed objects, turned into arrays). */
const parseForm = (raw: string): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const parts = key.replace(/\]/g, '').split('[');
    let node = out;
    parts.forEach((p, i) => {
      if (i === parts.length - 1) node[p] = value;
      else {
        node[p] ??= {};
        node = node[p] as Record<string, unknown>;
      }
    });
  }
  return out;
};
const id = (prefix: string) => `${prefix}_test_${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

/**
 * A local stand-in for the Stripe API that the real `stripe` package talks to (host/port/protocol
 * options): Bearer key check, `Idempotency-Key` replay (same key and parameters → the first
 * answer; other parameters → 400 idempotency_error), amount checks, Checkout Sessions,
 * PaymentIntents (capture, cancel), refunds within the captured amount, list pagination
 * (`starting_after`, `has_more`), and signed webhook deliveries.
 */
export const startFakeStripe = async (opts: { secretKey: string; webhookSecret: string }): Promise<FakeStripe> => {
  const sessions = new Map<string, Obj>();
  const intents = new Map<string, Obj>();
  const refunds = new Map<string, Obj>();
  const requests: FakeStripe['requests'] = [];
  const failures: number[] = [];
  const idem = new Map<string, { hash: string; status: number; body: string }>();

  const err = (status: number, type: string, message: string, code?: string, param?: string): [number, unknown] => [
    status,
    { error: { type, message, ...(code ? { code } : {}), ...(param ? { param } : {}) } },
  ];
  const notFound = (what: string) => err(404, 'invalid_request_error', `No such ${what}`, 'resource_missing');
  const refundedOf = (pi: string) =>
    [...refunds.values()]
      .filter((r) => r.payment_intent === pi && r.status === 'succeeded')
      .reduce((n, r) => n + Number(r.amount), 0);

  const post = (path: string, b: Record<string, unknown>): [number, unknown] => {
    if (path === '/v1/checkout/sessions') {
      const item = (b.line_items as Record<string, Record<string, unknown>> | undefined)?.['0'];
      const price = item?.price_data as Record<string, unknown> | undefined;
      const amount = Number(price?.unit_amount) * Number(item?.quantity ?? 1);
      if (!Number.isInteger(amount) || amount < 1)
        return err(
          400,
          'invalid_request_error',
          'Invalid integer',
          'parameter_invalid_integer',
          'line_items[0][price_data][unit_amount]',
        );
      if (!/^[a-z]{3}$/.test(String(price?.currency ?? '')))
        return err(400, 'invalid_request_error', 'Invalid currency', 'parameter_invalid', 'currency');
      const s: Obj = {
        id: id('cs'),
        object: 'checkout.session',
        url: '',
        status: 'open',
        payment_status: 'unpaid',
        payment_intent: null,
        amount_total: amount,
        currency: price?.currency,
        client_reference_id: b.client_reference_id ?? null,
        customer_email: b.customer_email ?? null,
        metadata: b.metadata ?? {},
        created: now(),
        success_url: b.success_url,
        capture_method: (b.payment_intent_data as Record<string, unknown> | undefined)?.capture_method ?? 'automatic',
        pi_metadata: (b.payment_intent_data as Record<string, unknown> | undefined)?.metadata ?? {},
      };
      s.url = `https://checkout.stripe.com/c/pay/${s.id}`;
      sessions.set(s.id, s);
      return [200, s];
    }
    let m = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (m) {
      const s = sessions.get(m[1] as string);
      if (!s) return notFound('checkout.session');
      if (s.status !== 'open') return err(400, 'invalid_request_error', 'Only open sessions can be expired');
      s.status = 'expired';
      return [200, s];
    }
    m = /^\/v1\/payment_intents\/([^/]+)\/(capture|cancel)$/.exec(path);
    if (m) {
      const pi = intents.get(m[1] as string);
      if (!pi) return notFound('payment_intent');
      if (pi.status !== 'requires_capture')
        return err(400, 'invalid_request_error', `PaymentIntent is ${pi.status}`, 'payment_intent_unexpected_state');
      if (m[2] === 'cancel') {
        Object.assign(pi, { status: 'canceled', cancellation_reason: 'requested_by_customer' });
        return [200, pi];
      }
      const asked = b.amount_to_capture === undefined ? Number(pi.amount) : Number(b.amount_to_capture);
      if (!Number.isInteger(asked) || asked < 1 || asked > Number(pi.amount))
        return err(400, 'invalid_request_error', 'Invalid amount_to_capture', 'parameter_invalid_integer', 'amount_to_capture');
      Object.assign(pi, { status: 'succeeded', amount_received: asked });
      return [200, pi];
    }
    if (path === '/v1/refunds') {
      const pi = intents.get(String(b.payment_intent));
      if (!pi) return notFound('payment_intent');
      if (pi.status !== 'succeeded')
        return err(400, 'invalid_request_error', 'This PaymentIntent has not been captured', 'charge_not_refundable');
      const amount = b.amount === undefined ? Number(pi.amount_received) - refundedOf(pi.id) : Number(b.amount);
      if (!Number.isInteger(amount) || amount < 1 || amount + refundedOf(pi.id) > Number(pi.amount_received)) {
        return err(
          400,
          'invalid_request_error',
          `Refund amount (${amount}) is greater than unrefunded amount`,
          'amount_too_large',
          'amount',
        );
      }
      const r: Obj = {
        id: id('re'),
        object: 'refund',
        amount,
        currency: pi.currency,
        payment_intent: pi.id,
        status: 'succeeded',
        metadata: b.metadata ?? {},
        created: now(),
      };
      refunds.set(r.id, r);
      return [200, r];
    }
    return err(404, 'invalid_request_error', `Unrecognized request URL (POST: ${path})`);
  };

  const list = (store: Map<string, Obj>, q: URLSearchParams, path: string): [number, unknown] => {
    const gte = Number(q.get('created[gte]') ?? 0);
    const lt = Number(q.get('created[lt]') ?? Number.MAX_SAFE_INTEGER);
    const limit = Number(q.get('limit') ?? 10);
    const all = [...store.values()]
      .filter((o) => Number(o.created) >= gte && Number(o.created) < lt)
      .sort((a, b) => Number(b.created) - Number(a.created) || a.id.localeCompare(b.id));
    const after = q.get('starting_after');
    const start = after ? all.findIndex((o) => o.id === after) + 1 : 0;
    const data = all.slice(start, start + limit);
    return [200, { object: 'list', url: path, data, has_more: start + limit < all.length }];
  };

  const get = (path: string, q: URLSearchParams): [number, unknown] => {
    if (path === '/v1/checkout/sessions') return list(sessions, q, path);
    if (path === '/v1/refunds') return list(refunds, q, path);
    let m = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
    if (m) return sessions.has(m[1] as string) ? [200, sessions.get(m[1] as string)] : notFound('checkout.session');
    m = /^\/v1\/payment_intents\/([^/]+)$/.exec(path);
    if (m) return intents.has(m[1] as string) ? [200, intents.get(m[1] as string)] : notFound('payment_intent');
    m = /^\/v1\/refunds\/([^/]+)$/.exec(path);
    if (m) return refunds.has(m[1] as string) ? [200, refunds.get(m[1] as string)] : notFound('refund');
    return err(404, 'invalid_request_error', `Unrecognized request URL (GET: ${path})`);
  };

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), 'stripe-should-retry': 'false' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const key = req.headers['idempotency-key'] as string | undefined;
    requests.push({ method: req.method ?? '', path: url.pathname, body: raw, idempotencyKey: key });
    const failure = failures.shift();
    if (failure !== undefined) return reply(res, failure, { error: { type: 'api_error', message: 'scripted failure' } });
    if (req.headers.authorization !== `Bearer ${opts.secretKey}`) {
      return reply(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    }
    if (req.method === 'GET') {
      const [status, body] = get(url.pathname, url.searchParams);
      return reply(res, status, body);
    }
    const hash = createHash('sha256').update(`${url.pathname}\0${raw}`).digest('hex');
    if (key) {
      const seen = idem.get(key);
      if (seen && seen.hash !== hash) {
        return reply(res, 400, {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}'.`,
          },
        });
      }
      if (seen) return reply(res, seen.status, seen.body);
    }
    const [status, body] = post(url.pathname, parseForm(raw));
    const text = JSON.stringify(body);
    if (key) idem.set(key, { hash, status, body: text });
    reply(res, status, text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const event = (type: string, object: Obj, o: { timestamp?: number; secret?: string } = {}) => {
    const body = JSON.stringify({
      id: id('evt'),
      object: 'event',
      api_version: '2026-10-28.endive',
      created: now(),
      livemode: false,
      pending_webhooks: 1,
      type,
      data: { object },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: o.secret ?? opts.webhookSecret,
      timestamp: o.timestamp ?? now(),
    });
    return { body, signature };
  };

  return {
    url: `http://127.0.0.1:${port}`,
    sessions,
    intents,
    refunds,
    requests,
    failNext: (status) => failures.push(status),
    event,
    pay(sessionId) {
      const s = sessions.get(sessionId);
      if (!s) throw new Error(`no session ${sessionId}`);
      const manual = s.capture_method === 'manual';
      const pi: Obj = {
        id: id('pi'),
        object: 'payment_intent',
        amount: s.amount_total,
        amount_received: manual ? 0 : s.amount_total,
        currency: s.currency,
        status: manual ? 'requires_capture' : 'succeeded',
        metadata: s.pi_metadata,
        created: now(),
      };
      intents.set(pi.id, pi);
      Object.assign(s, { status: 'complete', payment_status: manual ? 'unpaid' : 'paid', payment_intent: pi.id });
      return event('checkout.session.completed', s);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

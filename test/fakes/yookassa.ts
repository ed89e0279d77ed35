import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The fields of a YooKassa payment or refund the gateway reads; the rest passes through. */
export interface YooKassaObject {
  id: string;
  status: string;
  [field: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeYooKassa {
  /** API base as the gateway configures it (`YOOKASSA_API_URL`), ending in `/v3`. */
  url: string;
  payments: Map<string, YooKassaObject>;
  refunds: Map<string, YooKassaObject>;
  requests: RecordedRequest[];
  /** The next request answers this status with a YooKassa error body (scripted outage). */
  failNext(status: number): void;
  /** The next POST /payments is carried out, but its answer comes only after `ms` (a client timeout). */
  delayNextCreate(ms: number): void;
  /** The customer paid: `succeeded` (or `waiting_for_capture` for `capture: false`); returns the notification body. */
  pay(id: string): string;
  /** The payment expired or was declined; returns the notification body. */
  cancelPayment(id: string, reason?: string): string;
  /** A notification body as YooKassa sends it, for the object as stored now. */
  notification(event: string, object: YooKassaObject): string;
  close(): Promise<void>;
}

const error = (res: ServerResponse, status: number, code: string, description: string, parameter?: string) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', id: randomUUID(), code, description, ...(parameter ? { parameter } : {}) }));
};
const AMOUNT = /^\d+\.\d{2}$/;
const cents = (v: string) => Math.round(Number(v) * 100);
const money = (c: number) => (c / 100).toFixed(2);

/**
 * A local stand-in for the YooKassa API v3 on 127.0.0.1 and a free port: checks HTTP Basic auth
 * (shopId:secretKey), requires `Idempotence-Key` on every POST (same key and body → the first
 * answer again; same key and another body → 400 "Idempotence key duplicated"), checks amounts
 * (decimal strings with two digits, refunds within the captured amount), creates, captures,
 * cancels and refunds payments, and lists them with a cursor. The stores are plain maps, so a
 * test also scripts what the API reports.
 */
export const startFakeYooKassa = async (opts: { shopId: string; secretKey: string }): Promise<FakeYooKassa> => {
  const payments = new Map<string, YooKassaObject>();
  const refunds = new Map<string, YooKassaObject>();
  const requests: RecordedRequest[] = [];
  const failures: number[] = [];
  const createDelays: number[] = [];
  const idempotency = new Map<string, { hash: string; status: number; body: string }>();
  const expectedAuth = `Basic ${Buffer.from(`${opts.shopId}:${opts.secretKey}`).toString('base64')}`;

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  const refundedCents = (paymentId: string) =>
    [...refunds.values()]
      .filter((r) => r.payment_id === paymentId && r.status === 'succeeded')
      .reduce((n, r) => n + cents((r.amount as { value: string }).value), 0);

  /** The POST's outcome, computed once per idempotence key. */
  const post = (path: string, body: Record<string, unknown>): [number, unknown] => {
    if (path === '/v3/payments') {
      const amount = body.amount as { value?: string; currency?: string } | undefined;
      if (!amount?.value || !AMOUNT.test(amount.value) || cents(amount.value) <= 0 || !/^[A-Z]{3}$/.test(amount.currency ?? '')) {
        return [
          400,
          { type: 'error', id: randomUUID(), code: 'invalid_request', description: 'Invalid amount', parameter: 'amount' },
        ];
      }
      const id = `${randomUUID().slice(0, 8)}-000f-5000-8000-${randomUUID().slice(-12)}`;
      const p: YooKassaObject = {
        id,
        status: 'pending',
        paid: false,
        amount,
        capture: body.capture !== false,
        confirmation: {
          type: 'redirect',
          return_url: (body.confirmation as { return_url?: string })?.return_url,
          confirmation_url: `https://yoomoney.ru/api-pages/v2/payment-confirm/epl?orderId=${id}`,
        },
        created_at: new Date().toISOString(),
        description: body.description,
        metadata: body.metadata ?? {},
        receipt: body.receipt,
        refundable: false,
        test: true,
      };
      payments.set(id, p);
      return [200, p];
    }
    const m = /^\/v3\/payments\/([^/]+)\/(capture|cancel)$/.exec(path);
    if (m) {
      const p = payments.get(decodeURIComponent(m[1] as string));
      if (!p) return [404, { type: 'error', id: randomUUID(), code: 'not_found', description: 'payment not found' }];
      if (m[2] === 'capture') {
        if (p.status !== 'waiting_for_capture') {
          return [400, { type: 'error', id: randomUUID(), code: 'invalid_request', description: `payment is ${p.status}` }];
        }
        const held = cents((p.amount as { value: string }).value);
        const asked = (body.amount as { value?: string } | undefined)?.value;
        if (asked !== undefined && (!AMOUNT.test(asked) || cents(asked) > held)) {
          return [
            400,
            { type: 'error', id: randomUUID(), code: 'invalid_request', description: 'Invalid amount', parameter: 'amount' },
          ];
        }
        const captured = asked ?? (p.amount as { value: string }).value;
        Object.assign(p, {
          status: 'succeeded',
          paid: true,
          captured_at: new Date().toISOString(),
          amount: { ...(p.amount as object), value: captured },
          income_amount: { ...(p.amount as object), value: money(Math.round(cents(captured) * 0.965)) },
          refundable: true,
        });
        return [200, p];
      }
      if (p.status !== 'pending' && p.status !== 'waiting_for_capture') {
        return [400, { type: 'error', id: randomUUID(), code: 'invalid_request', description: `payment is ${p.status}` }];
      }
      Object.assign(p, { status: 'canceled', cancellation_details: { party: 'merchant', reason: 'canceled_by_merchant' } });
      return [200, p];
    }
    if (path === '/v3/refunds') {
      const p = payments.get(String(body.payment_id));
      if (!p) return [404, { type: 'error', id: randomUUID(), code: 'not_found', description: 'payment not found' }];
      const value = (body.amount as { value?: string } | undefined)?.value ?? '';
      if (p.status !== 'succeeded') {
        return [400, { type: 'error', id: randomUUID(), code: 'invalid_request', description: `payment is ${p.status}` }];
      }
      if (
        !AMOUNT.test(value) ||
        cents(value) <= 0 ||
        cents(value) + refundedCents(p.id) > cents((p.amount as { value: string }).value)
      ) {
        return [
          400,
          {
            type: 'error',
            id: randomUUID(),
            code: 'invalid_request',
            description: 'Refund amount exceeds the payment',
            parameter: 'amount',
          },
        ];
      }
      const r: YooKassaObject = {
        id: randomUUID(),
        payment_id: p.id,
        status: 'succeeded',
        amount: body.amount,
        created_at: new Date().toISOString(),
        metadata: body.metadata ?? {},
      };
      refunds.set(r.id, r);
      p.refunded_amount = { value: money(refundedCents(p.id)), currency: (p.amount as { currency: string }).currency };
      return [200, r];
    }
    return [404, { type: 'error', id: randomUUID(), code: 'not_found', description: 'Incorrect URL' }];
  };

  const list = (store: Map<string, YooKassaObject>, q: URLSearchParams) => {
    const gte = q.get('created_at.gte');
    const lt = q.get('created_at.lt');
    const limit = Number(q.get('limit') ?? 10);
    const all = [...store.values()]
      .filter((o) => (!gte || String(o.created_at) >= gte) && (!lt || String(o.created_at) < lt))
      .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)) || a.id.localeCompare(b.id));
    const start = Number(q.get('cursor') ?? 0);
    const items = all.slice(start, start + limit);
    return { type: 'list', items, ...(start + limit < all.length ? { next_cursor: String(start + limit) } : {}) };
  };

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    requests.push({ method: req.method ?? '', path, headers: req.headers, body: raw });
    const failure = failures.shift();
    if (failure !== undefined) return error(res, failure, 'internal_server_error', 'scripted failure');
    if (req.headers.authorization !== expectedAuth) {
      return error(res, 401, 'invalid_credentials', 'Authentication by given credentials failed');
    }
    if (req.method === 'POST') {
      const key = req.headers['idempotence-key'];
      if (typeof key !== 'string' || key === '' || key.length > 64) {
        return error(res, 400, 'invalid_request', 'Idempotence-Key header is required', 'Idempotence-Key');
      }
      let body: Record<string, unknown>;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        return error(res, 400, 'invalid_request', 'Request body is not JSON');
      }
      const hash = createHash('sha256').update(`${path}\0${raw}`).digest('hex');
      let entry = idempotency.get(key);
      if (entry && entry.hash !== hash) {
        return error(res, 400, 'invalid_request', 'Idempotence key duplicated', 'Idempotence-Key');
      }
      if (!entry) {
        const [status, out] = post(path, body);
        entry = { hash, status, body: JSON.stringify(out) };
        idempotency.set(key, entry);
      }
      const delay = path === '/v3/payments' ? createDelays.shift() : undefined;
      if (delay) await new Promise((r) => setTimeout(r, delay));
      return send(res, entry.status, entry.body);
    }
    if (req.method !== 'GET') return error(res, 405, 'method_not_allowed', 'Method not allowed');
    if (path === '/v3/payments') return send(res, 200, list(payments, url.searchParams));
    if (path === '/v3/refunds') return send(res, 200, list(refunds, url.searchParams));
    const m = /^\/v3\/(payments|refunds)\/([^/]+)$/.exec(path);
    if (!m) return error(res, 404, 'not_found', 'Incorrect URL');
    const store = m[1] === 'payments' ? payments : refunds;
    const object = store.get(decodeURIComponent(m[2] as string));
    if (!object) return error(res, 404, 'not_found', `${m[1]} not found`);
    send(res, 200, object);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const notification = (event: string, object: YooKassaObject) => JSON.stringify({ type: 'notification', event, object });
  return {
    url: `http://127.0.0.1:${port}/v3`,
    payments,
    refunds,
    requests,
    failNext: (status) => failures.push(status),
    delayNextCreate: (ms) => createDelays.push(ms),
    notification,
    pay(id) {
      const p = payments.get(id);
      if (!p) throw new Error(`no payment ${id}`);
      if (p.capture === false) {
        Object.assign(p, { status: 'waiting_for_capture', paid: true });
        return notification('payment.waiting_for_capture', p);
      }
      const value = (p.amount as { value: string }).value;
      Object.assign(p, {
        status: 'succeeded',
        paid: true,
        captured_at: new Date().toISOString(),
        income_amount: { ...(p.amount as object), value: money(Math.round(cents(value) * 0.965)) },
        refundable: true,
      });
      return notification('payment.succeeded', p);
    },
    cancelPayment(id, reason = 'expired_on_confirmation') {
      const p = payments.get(id);
      if (!p) throw new Error(`no payment ${id}`);
      Object.assign(p, { status: 'canceled', cancellation_details: { party: 'yoo_money', reason } });
      return notification('payment.canceled', p);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

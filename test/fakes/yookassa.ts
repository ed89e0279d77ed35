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
  close(): Promise<void>;
}

const error = (res: ServerResponse, status: number, code: string, description: string) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', id: crypto.randomUUID(), code, description }));
};

/**
 * A local stand-in for the YooKassa API v3 on 127.0.0.1 and a free port: checks HTTP Basic auth
 * (shopId:secretKey) as the real API does and serves stored payments and refunds. The stores are
 * plain maps, so a test scripts what the API reports.
 */
export const startFakeYooKassa = async (opts: { shopId: string; secretKey: string }): Promise<FakeYooKassa> => {
  const payments = new Map<string, YooKassaObject>();
  const refunds = new Map<string, YooKassaObject>();
  const requests: RecordedRequest[] = [];
  const failures: number[] = [];
  const expectedAuth = `Basic ${Buffer.from(`${opts.shopId}:${opts.secretKey}`).toString('base64')}`;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    requests.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    const failure = failures.shift();
    if (failure !== undefined) return error(res, failure, 'internal_server_error', 'scripted failure');
    if (req.headers.authorization !== expectedAuth) {
      return error(res, 401, 'invalid_credentials', 'Authentication by given credentials failed');
    }
    if (req.method === 'GET' && (path === '/v3/payments' || path === '/v3/refunds')) {
      // A list call (GET /payments?limit=N): what a credentials check asks for.
      const items = [...(path === '/v3/payments' ? payments : refunds).values()];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'list', items }));
      return;
    }
    const m = /^\/v3\/(payments|refunds)\/([^/]+)$/.exec(path);
    if (req.method !== 'GET' || !m) return error(res, 404, 'not_found', 'Incorrect URL');
    const store = m[1] === 'payments' ? payments : refunds;
    const object = store.get(decodeURIComponent(m[2] as string));
    if (!object) return error(res, 404, 'not_found', `${m[1]} not found`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(object));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v3`,
    payments,
    refunds,
    requests,
    failNext: (status) => failures.push(status),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

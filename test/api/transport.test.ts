import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;

beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store, { API_BODY_TIMEOUT_SECONDS: '1', RATE_LIMIT_PER_KEY: '5', RATE_LIMIT_WINDOW_SECONDS: '60' });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

/** A raw TCP client: writes what it is told, collects what comes back, resolves when the server closes. */
const rawClient = (port: number) => {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  let received = '';
  socket.setEncoding('utf8').on('data', (d: string) => {
    received += d;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, closed, received: () => received };
};

/** A request on a fresh key (the per-key limit here is 5), as proof that the server still serves. */
const healthy = async () => {
  const res = await fetch(`${api.url}/api/v1/sms/0190a4b2-0000-7000-8000-000000000000`, {
    headers: { authorization: `Bearer ${await api.key(['sms'])}` },
  });
  return res.status;
};

describe('HTTP transport', () => {
  it('survives clients that abort mid-body, many times over, without appending', async () => {
    const before = await api.log.lastSeq('EVENTS');
    for (let i = 0; i < 50; i++) {
      const key = await api.key(['sms']);
      const c = rawClient(api.port);
      c.socket.write(
        `POST /api/v1/sms HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"to":"+7999`,
      );
      await new Promise((r) => setTimeout(r, 2));
      c.socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(await healthy()).toBe(404);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
    const metrics = await (await fetch(`${api.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /fleetgate_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/sms"[^}]*status="aborted"\} \d+/,
    );
  });

  it('answers 408 and closes when the body does not arrive in time', async () => {
    const key = await api.key(['sms']);
    const c = rawClient(api.port);
    c.socket.write(
      `POST /api/v1/sms HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"to":`,
    );
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(c.received()).toContain('GW_ERR_REQUEST_TIMEOUT');
    expect(await healthy()).toBe(404);
  }, 10_000);

  it('drops a client that never finishes its headers, and keeps serving others meanwhile', async () => {
    const c = rawClient(api.port);
    c.socket.write('POST /api/v1/sms HTTP/1.1\r\nhost: x\r\nx-slow: ');
    const t0 = Date.now();
    // Others are served while the slow client holds its socket.
    expect(await healthy()).toBe(404);
    await c.closed; // uWS closes idle HTTP connections (about 10 s without a complete request)
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(c.received()).toBe('');
    expect(await healthy()).toBe(404);
  }, 30_000);

  it('answers 413 at once for a declared length over the limit, without reading the body', async () => {
    const key = await api.key(['sms']);
    const c = rawClient(api.port);
    c.socket.write(
      `POST /api/v1/sms HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: ${api.config.api.maxBodyBytes + 1}\r\n\r\n`,
    );
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 413/);
  });

  it('streams a large body to a client that reads slowly, whole and in order', async () => {
    const path = '/docs/assets/swagger-ui-bundle.js';
    const expected = Buffer.from(await (await fetch(`${api.url}${path}`)).arrayBuffer());
    expect(expected.length).toBeGreaterThan(512 * 1024);
    const socket = connect({ host: '127.0.0.1', port: api.port });
    socket.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    socket.pause(); // the kernel buffers fill; uWS must wait for onWritable
    await new Promise((r) => setTimeout(r, 300));
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.resume();
    await new Promise((r) => socket.once('close', r));
    const raw = Buffer.concat(chunks);
    const bodyAt = raw.indexOf('\r\n\r\n') + 4;
    expect(raw.subarray(0, 12).toString()).toBe('HTTP/1.1 200');
    expect(raw.subarray(bodyAt).equals(expected)).toBe(true);
  });

  it('answers 404 for an unknown route and 405 with Allow for a known path under another method', async () => {
    const missing = await fetch(`${api.url}/api/v1/nothing-here`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    const wrong = await fetch(`${api.url}/api/v1/sms`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('labels unmatched requests with a fixed set of methods, not with what the client sent', async () => {
    // uWS's parser refuses methods it does not know (XMETHOD1, PURGE, lower case): only TRACE and
    // CONNECT reach the catch-all besides the usual ones; neither may become a label of its own.
    for (const method of ['TRACE', 'CONNECT', 'XMETHOD1']) {
      const c = rawClient(api.port);
      c.socket.write(`${method} /nothing HTTP/1.1\r\nhost: x\r\n\r\n`);
      await c.closed;
    }
    const metrics = await (await fetch(`${api.metricsUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/method="(TRACE|CONNECT|XMETHOD1)"/);
    expect(metrics).toMatch(/fleetgate_http_request_duration_seconds_count\{method="OTHER",route="unmatched",status="404"\} \d+/);
  });

  it('serves /metrics only on the internal listener; /healthz and /readyz on both', async () => {
    expect((await fetch(`${api.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${api.metricsUrl}/metrics`)).status).toBe(200);
    for (const base of [api.url, api.metricsUrl]) {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    }
  });

  it('echoes a request id, or makes one', async () => {
    const given = await fetch(`${api.url}/api/v1/sms/x`, { headers: { 'x-request-id': 'crm-req-42' } });
    expect(given.headers.get('x-request-id')).toBe('crm-req-42');
    expect(((await given.json()) as { requestId: string }).requestId).toBe('crm-req-42');
    const made = await fetch(`${api.url}/api/v1/sms/x`);
    expect(made.headers.get('x-request-id')).toMatch(/^[\w-]{8}-[0-9a-z]+$/);
  });

  it('limits requests per API key with 429 and Retry-After', async () => {
    const limited = await api.key(['sms']);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`${api.url}/api/v1/sms/0190a4b2-0000-7000-8000-000000000000`, {
        headers: { authorization: `Bearer ${limited}` },
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // Another key is not affected.
    expect(await healthy()).toBe(404);
  });
});

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;

beforeAll(async () => {
  store = await freshPglite();
  // The test client is the proxy (127.0.0.1): it writes X-Forwarded-For as a proxy would.
  api = await startApi(store, { TRUST_PROXY: 'true', RATE_LIMIT_PER_IP: '3', RATE_LIMIT_WINDOW_SECONDS: '60' });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const get = (forwardedFor: string) =>
  fetch(`${api.url}/api/v1/sms/0190a4b2-0000-7000-8000-000000000000`, { headers: { 'x-forwarded-for': forwardedFor } }).then(
    (r) => r.status,
  );

/** A request whose X-Forwarded-For comes in two header lines (HAProxy adds its own below the client's). */
const twoLines = (clientLine: string, proxyLine: string) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: api.port });
    let received = '';
    socket.setEncoding('utf8').on('data', (d: string) => {
      received += d;
      if (received.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(received.slice(9, 12));
      }
    });
    socket.on('error', reject);
    socket.write(
      `GET /api/v1/sms/0190a4b2-0000-7000-8000-000000000000 HTTP/1.1\r\nhost: x\r\nx-forwarded-for: ${clientLine}\r\nx-forwarded-for: ${proxyLine}\r\n\r\n`,
    );
  });

describe('TRUST_PROXY=true (one reverse proxy in front)', () => {
  it('keeps a client in its rate-limit bucket whatever it writes into X-Forwarded-For', async () => {
    // Each request claims another address on the left; the proxy appended the real one.
    const statuses = [];
    for (let i = 1; i <= 5; i++) statuses.push(await get(`203.0.113.${i}, 198.51.100.7`));
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // Another client behind the same proxy has its own budget.
    expect(await get('203.0.113.1, 198.51.100.8')).toBe(401);
  });

  it('reads the last X-Forwarded-For line when a proxy adds a line of its own', async () => {
    const statuses = [];
    for (let i = 1; i <= 4; i++) statuses.push(await twoLines(`203.0.113.${i}`, '198.51.100.9'));
    expect(statuses).toEqual(['401', '401', '401', '429']);
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormPostError, formPoster, MAX_ANSWER_BYTES } from '../../handlers/sms/formPost.js';

let server: Server;
let base: string;
const received: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      received.push(body);
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        for (let i = 0; i < (2 * MAX_ANSWER_BYTES) / chunk.length; i++) res.write(chunk);
        res.end();
      } else if (req.url === '/silent') {
        // never answers: the deadline must
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'x-one': 'a' });
        res.end(JSON.stringify({ status: 'OK', echo: body }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("SMS.ru's form client", () => {
  it('posts the form and returns status, headers and text', async () => {
    const post = formPoster(2_000);
    const answer = await post(`${base}/sms/send`, 'to=79001234567&msg=hi', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(answer.status).toBe(200);
    expect(answer.header('x-one')).toBe('a');
    expect(JSON.parse(answer.text)).toEqual({ status: 'OK', echo: 'to=79001234567&msg=hi' });
  });

  it('refuses an answer larger than the API ever sends, without holding it (EMSGSIZE)', async () => {
    const post = formPoster(5_000);
    const err = await post(`${base}/huge`, 'x=1', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormPostError);
    expect((err as FormPostError).code).toBe('EMSGSIZE');
  });

  it('gives up at its deadline (ETIMEDOUT) and on a refused connection (ECONNREFUSED)', async () => {
    const timedOut = await formPoster(200)(`${base}/silent`, 'x=1', {}).catch((e: unknown) => e);
    expect((timedOut as FormPostError).code).toBe('ETIMEDOUT');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await formPoster(2_000)(`http://127.0.0.1:${port}/`, 'x=1', {}).catch((e: unknown) => e);
    expect((refused as FormPostError).code).toBe('ECONNREFUSED');
  });
});

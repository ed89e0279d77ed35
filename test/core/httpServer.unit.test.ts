/**
 * The HTTP server owns HTTP_PORT. uSockets listens with SO_REUSEPORT unless told otherwise, and
 * then a second gateway on the same port (a stale one, another DATA_DIR) would start and silently
 * take part of the connections; it must be refused instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../core/http/server.js';
import { silentLogger } from '../../core/logger.js';
import { freePort } from '../support/natsServer.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGTERM');
});

/** Starts the fixture and resolves with its first line of output and its exit code, if it exited. */
const server = (port: number) =>
  new Promise<{ line: string; child: ChildProcess }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/httpServerProcess.ts', String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve({ line, child });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before a line: ${out}`)));
  });

describe('HTTP server port', () => {
  it('refuses a port another gateway process listens on; every connection stays with the first', async () => {
    const port = await freePort();
    const first = await server(port);
    expect(first.line).toBe(`listening ${port}`);
    const second = await server(port);
    expect(second.line).toContain(`refused HTTP_PORT ${port} on 127.0.0.1 is not available`);
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () =>
        (await fetch(`http://127.0.0.1:${port}/who`, { headers: { connection: 'close' } })).text(),
      ),
    );
    expect(new Set(answers)).toEqual(new Set([String(first.child.pid)]));
  }, 30_000);
});

describe('probes and metrics', () => {
  const quiet = silentLogger();

  it('answers /readyz from one probe at a time, at most one a second, whoever asks', async () => {
    let probes = 0;
    const http = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      internal: { host: '127.0.0.1', port: 0, explicit: true },
      logger: quiet,
      readiness: async () => {
        probes++;
        await new Promise((r) => setTimeout(r, 50));
        return { ready: true, checks: { postgres: true } };
      },
    });
    try {
      const ask = (port: number) => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status);
      // 200 requests at once on both ports: one probe.
      const statuses = await Promise.all(
        Array.from({ length: 200 }, (_, i) => ask(i % 2 ? http.port : (http.metricsPort as number))),
      );
      expect(new Set(statuses)).toEqual(new Set([200]));
      expect(probes).toBe(1);
      await new Promise((r) => setTimeout(r, 1_100));
      await ask(http.port);
      expect(probes).toBe(2);
    } finally {
      http.close();
    }
  });

  it('keeps /metrics off the public port; a METRICS_PORT in use stops start-up only when it was set', async () => {
    const taken = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      internal: { host: '127.0.0.1', port: 0, explicit: true },
      logger: quiet,
      readiness: async () => ({ ready: true, checks: {} }),
      // As the API's catch-all: whatever is not served here is a 404.
      mount: async (app) => {
        app.any('/*', (res) => {
          res.writeStatus('404').end();
        });
      },
    });
    const busy = taken.metricsPort as number;
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (_o: object, msg: string) => warnings.push(msg) } as unknown as typeof quiet;
    const options = (explicit: boolean) => ({
      host: '127.0.0.1',
      port: 0,
      internal: { host: '127.0.0.1', port: busy, explicit },
      logger,
      readiness: async () => ({ ready: true, checks: {} }),
    });
    try {
      expect((await fetch(`http://127.0.0.1:${taken.port}/metrics`)).status).toBe(404);
      expect(await (await fetch(`http://127.0.0.1:${busy}/metrics`)).text()).toContain('fleetgate_http_request_duration_seconds');
      await expect(startHttpServer(options(true))).rejects.toThrow(`METRICS_PORT ${busy} on 127.0.0.1 is not available`);
      const without = await startHttpServer(options(false));
      expect(without.metricsPort).toBeUndefined();
      expect(warnings.join()).toMatch(/METRICS_PORT is in use/);
      expect((await fetch(`http://127.0.0.1:${without.port}/healthz`)).status).toBe(200);
      without.close();
    } finally {
      taken.close();
    }
  });
});

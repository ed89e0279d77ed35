/**
 * The HTTP server owns HTTP_PORT. uSockets listens with SO_REUSEPORT unless told otherwise, and
 * then a second gateway on the same port (a stale one, another DATA_DIR) would start and silently
 * take part of the connections; it must be refused instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
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

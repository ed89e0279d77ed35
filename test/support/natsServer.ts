import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface NatsServerHandle {
  url: string;
  port: number;
  storeDir: string;
  /** SIGTERM, wait for the exit, remove the store directory. */
  stop(): Promise<void>;
  /** SIGKILL at once (simulates a crash); the store directory stays. */
  kill(): void;
}

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });

/**
 * A free port below the kernel's ephemeral range (32768+), for a server that must come back on the
 * same port after a restart: in the ephemeral range, another process's `listen(0)` or outgoing
 * connection may take it while it is down.
 */
export const stablePort = async (): Promise<number> => {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt > 100) throw new Error('no free port in 20000-31999');
  }
};

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/** A throw-away JetStream server on a free port of 127.0.0.1 (never the machine's 4222). */
export const startNatsServer = async (opts: { port?: number } = {}): Promise<NatsServerHandle> => {
  const port = opts.port ?? (await freePort());
  const storeDir = await mkdtemp(join(tmpdir(), 'fg-nats-'));
  const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  let ready = false;
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (log.length < 64_000) log += chunk;
    if (chunk.includes('Server is ready')) ready = true;
  });
  const deadline = Date.now() + 10_000;
  while (!ready && !(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(storeDir, { recursive: true, force: true });
      throw new Error(`nats-server did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: () =>
      (stopped ??= (async () => {
        child.kill('SIGTERM');
        await exited(child);
        await rm(storeDir, { recursive: true, force: true });
      })()),
    kill: () => {
      child.kill('SIGKILL');
    },
  };
};

/**
 * A nats-server process the deploy tests control fully: a given config file or arguments, a store
 * directory that survives a stop (so a restarted server keeps its streams), on a chosen port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { NATS_SERVER_BIN } from '../support/natsServer.js';

export interface NatsProcess {
  port: number;
  url: string;
  /** What the server printed (stderr), for failures. */
  log(): string;
  /** SIGTERM and wait for the exit; the store directory stays. */
  stop(): Promise<void>;
}

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

/** Starts `nats-server args` and resolves once `port` accepts connections. */
export const spawnNats = async (port: number, args: string[], env: Record<string, string> = {}): Promise<NatsProcess> => {
  const child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (log.length < 64_000) log += chunk;
  });
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nats-server did not start on port ${port}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<void> | undefined;
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    log: () => log,
    stop: () =>
      (stopped ??= (async () => {
        child.kill('SIGTERM');
        await exited(child);
      })()),
  };
};

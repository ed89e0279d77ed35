import { type ChildProcess, spawn } from 'node:child_process';
import { packageRoot } from '../../core/paths.js';

export { freePort } from './natsServer.js';

export interface GatewayProcess {
  child: ChildProcess;
  output(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Resolves once `url` answers 200, or rejects when the process exits first. */
  waitHealthy(url: string, timeoutMs?: number): Promise<void>;
}

/**
 * Runs the built CLI (`dist/core/cli.js`) with exactly `env` plus PATH and HOME: nothing of the
 * test runner's environment (DATABASE_URL, NATS_URL…) leaks in.
 */
export const runCli = (args: string[], env: Record<string, string>): GatewayProcess => {
  const child = spawn(process.execPath, ['dist/core/cli.js', ...args], {
    cwd: packageRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    output: () => out,
    stderr: () => err,
    exited,
    async waitHealthy(url, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (done) throw new Error(`gateway exited early:\n${err}\n${out.slice(-2000)}`);
        const ok = await fetch(url).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`gateway not healthy within ${timeoutMs} ms:\n${out.slice(-2000)}`);
    },
  };
};

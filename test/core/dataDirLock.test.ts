/** The embedded data directory's pid lock: a live holder refuses a second process; a dead or zombie one does not. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { holderAlive, lockDataDir, processState } from '../../core/dataDirLock.js';
import { packageRoot } from '../../core/paths.js';
import { until } from '../support/until.js';

const parents: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  // The parent gone, init (or the nearest subreaper) reaps the zombie.
  for (const p of parents.splice(0)) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/**
 * A lock holder whose parent never reaps it: `sh` starts the holder in the background, prints its
 * pid and execs into `sleep`, which does not wait for children (as a container's init that does not
 * reap). Once the holder is SIGKILLed it stays a zombie until that parent goes.
 */
const holderWithoutReaper = async (dataDir: string) => {
  const holder = join(packageRoot, 'test', 'support', 'dataDirHolder.ts');
  const parent = spawn(
    'sh',
    ['-c', '"$0" --import tsx "$1" "$2" & echo "$!"; exec sleep 120', process.execPath, holder, dataDir],
    {
      cwd: packageRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  parents.push(parent);
  let out = '';
  parent.stdout?.on('data', (d) => {
    out += d.toString();
  });
  await until(() => out.includes('locked\n'), { timeoutMs: 30_000, what: () => `holder locked (stdout: ${out})` });
  return Number(out.split('\n')[0]);
};

describe('lockDataDir', () => {
  it('refuses while the holder runs, and takes the lock over once it was killed but not reaped (a zombie)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fleetgate-lock-'));
    dirs.push(dataDir);
    const pid = await holderWithoutReaper(dataDir);
    expect(JSON.parse(await readFile(join(dataDir, 'fleetgate.pid'), 'utf8'))).toMatchObject({ pid });
    expect(await holderAlive(pid)).toBe(true);
    await expect(lockDataDir(dataDir)).rejects.toMatchObject({ code: 'GW_ERR_DATA_DIR_LOCKED' });

    process.kill(pid, 'SIGKILL');
    await until(async () => (await processState(pid)) === 'Z', { what: 'the killed holder a zombie' });
    // Signal 0 still reaches a zombie: that alone would keep refusing.
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(await holderAlive(pid)).toBe(false);

    const lock = await lockDataDir(dataDir);
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  }, 60_000);

  it('takes over a lock whose process is gone, and reads a running process as running', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'fleetgate-lock-'));
    dirs.push(dataDir);
    const exited = spawn(process.execPath, ['-e', '0']);
    const pid = exited.pid ?? 0;
    await new Promise((r) => exited.once('exit', r));
    await until(async () => (await processState(pid)) === undefined, { what: 'the child reaped' });
    expect(await holderAlive(pid)).toBe(false);
    expect(['R', 'S']).toContain(await processState(process.pid));
    expect(await holderAlive(process.pid)).toBe(true);

    await writeFile(
      join(dataDir, 'fleetgate.pid'),
      JSON.stringify({ pid, host: hostname(), startedAt: new Date().toISOString() }),
    );
    const lock = await lockDataDir(dataDir);
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    await lock.release();
  });
});

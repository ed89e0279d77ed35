import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../schemas/errors.js';

export interface DataDirLock {
  path: string;
  release(): Promise<void>;
}

/**
 * The process state letter from `/proc/<pid>/stat` (Linux): the field after the command name, which
 * is in parentheses and may itself hold spaces or ")". Undefined where there is no procfs.
 */
export const processState = async (pid: number): Promise<string | undefined> => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
};

/**
 * Whether the lock's holder still runs. A killed process its parent has not reaped yet (a zombie,
 * `Z`, as under a container init that does not reap) still answers signal 0, but holds nothing:
 * it counts as gone, like a dead one (`X`).
 */
export const holderAlive = async (pid: number): Promise<boolean> => {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = await processState(pid);
  return state !== 'Z' && state !== 'X';
};

/**
 * Takes `DATA_DIR/fleetgate.pid` like Postgres' postmaster.pid: created exclusively, holding our
 * pid. PGlite has no lock of its own and two writers silently lose data, so a second process on
 * the same directory must refuse to start. A lock left by a killed process (pid gone, or a zombie
 * not yet reaped) is taken over at once; mtime-based locks (proper-lockfile) would misfire here, since PGlite's first boot
 * and chdb's open block the event loop for seconds and the lock could not be refreshed.
 */
export const lockDataDir = async (dataDir: string): Promise<DataDirLock> => {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, 'fleetgate.pid');
  const host = hostname();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(JSON.stringify({ pid: process.pid, host, startedAt: new Date().toISOString() }));
      await fh.sync();
      await fh.close();
      return {
        path,
        release: async () => {
          const held = await readFile(path, 'utf8').then(
            (t) => JSON.parse(t) as { pid: number },
            () => null,
          );
          if (held?.pid === process.pid) await rm(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = await readFile(path, 'utf8').then(
      (t) => JSON.parse(t) as { pid: number; host: string; startedAt: string },
      () => null,
    );
    if (held && held.host === host && held.pid !== process.pid && (await holderAlive(held.pid))) {
      throw new GatewayError(
        'GW_ERR_DATA_DIR_LOCKED',
        `data directory ${dataDir} is in use by fleetgate process ${held.pid} (started ${held.startedAt}); ` +
          'two processes on one embedded data directory would silently lose writes. Stop it, or give this one another DATA_DIR.',
      );
    }
    if (held && held.host !== host) {
      throw new GatewayError(
        'GW_ERR_DATA_DIR_LOCKED',
        `data directory ${dataDir} is locked by process ${held.pid} on host ${held.host}; if that host is gone, remove ${path}`,
      );
    }
    // Stale (its process is gone) or unreadable half-written: take it over.
    await rm(path, { force: true });
  }
  throw new GatewayError('GW_ERR_DATA_DIR_LOCKED', `could not take ${path}`);
};

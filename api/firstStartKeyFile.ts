import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatewayError } from '../schemas/errors.js';

export { firstStartKeyPath } from '../core/paths.js';

/**
 * Writes a newly generated admin key to `path`, readable by this user only. The key is never
 * printed: stdout ends in the service journal (journald, docker logs), kept and shipped far
 * longer than the key should live. The file is created exclusively with mode 0600 in the one
 * `open` call, so it is never world-readable, not even between create and chmod, and a file
 * left by an earlier start is never overwritten (its key may be the only copy).
 */
export const writeFirstStartKey = async (path: string, key: string): Promise<void> => {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const file = await open(path, 'wx', 0o600).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
    throw new GatewayError(
      'GW_ERR_CONFIG',
      `${path} already exists: an admin key from an earlier first start was never moved away. ` +
        'Move it to your secrets store (or delete it if that key is gone), then start again.',
      { cause: e },
    );
  });
  try {
    await file.writeFile(`${key}\n`);
    await file.sync();
    await file.close();
  } catch (e) {
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
    throw e;
  }
};

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, from source (`core/`) or from the build (`dist/core/`). */
const findRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('fleetgate: package.json not found above core/');
    dir = up;
  }
  return dir;
};

export const packageRoot = findRoot();
export const postgresMigrationsDir = join(packageRoot, 'schemas', 'postgres');
export const clickhouseMigrationsDir = join(packageRoot, 'schemas', 'clickhouse');

/** Where the first start leaves a generated admin key, inside `DATA_DIR` (read by the CLI too). */
export const firstStartKeyPath = (dataDir: string) => join(dataDir, 'admin-api-key');

import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultInitCacheDir, initPgliteCluster } from '../../core/stores/pgliteInit.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { tempDir } from '../support/stores.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const templateIn = (cacheDir: string) => readdirSync(cacheDir).filter((f) => /^pglite-.*-initdb\.tar$/.test(f));

describe('a fresh PGlite cluster from the kept initdb template', () => {
  it('runs initdb once, keeps the result, unpacks later clusters from it, and replaces a broken template', async () => {
    const t = await tempDir('fg-pginit-');
    cleanups.push(t.remove);
    const cache = join(t.dir, 'cache');
    // A template left broken (a disk filled up mid-write, a bad copy) must cost a start nothing.
    await mkdir(cache, { recursive: true });
    await mkdir(join(t.dir, 'a'));
    await mkdir(join(t.dir, 'b'));
    const pkgVersion = (await import('../../node_modules/@electric-sql/pglite/package.json', { with: { type: 'json' } })).default
      .version;
    await writeFile(join(cache, `pglite-${pkgVersion}-initdb.tar`), 'not a tar');

    expect(await initPgliteCluster(join(t.dir, 'a'), cache)).toBe('initdb');
    expect(templateIn(cache)).toEqual([`pglite-${pkgVersion}-initdb.tar`]);
    expect(statSync(join(cache, templateIn(cache)[0] as string)).size).toBeGreaterThan(1_000_000);
    expect(existsSync(join(t.dir, 'a', 'PG_VERSION'))).toBe(true);

    expect(await initPgliteCluster(join(t.dir, 'b'), cache)).toBe('template');
    expect(existsSync(join(t.dir, 'b', 'PG_VERSION'))).toBe(true);
  }, 120_000); // initdb: ~5 s of CPU, several times that on a loaded 2-core machine

  it('a gateway store opened on a fresh dir works from the default template and leaves no staging dir', async () => {
    const t = await tempDir('fg-pginit-');
    cleanups.push(t.remove);
    const first = await openPostgres({ pgliteDir: join(t.dir, 'one', 'pg'), poolMax: 1 });
    await first.close();
    expect(templateIn(defaultInitCacheDir)).toHaveLength(1);
    const store = await openPostgres({ pgliteDir: join(t.dir, 'two', 'pg'), poolMax: 1 });
    cleanups.push(store.close);
    await store.sql`CREATE TABLE kept (id int PRIMARY KEY)`;
    await store.sql`INSERT INTO kept VALUES (1), (2)`;
    expect((await store.sql`SELECT count(*)::int AS n FROM kept`)[0]?.n).toBe(2);
    expect(readdirSync(join(t.dir, 'two'))).toEqual(['pg']);
  }, 120_000);

  it('refuses a data dir that holds files but no cluster, instead of initialising over them', async () => {
    const t = await tempDir('fg-pginit-');
    cleanups.push(t.remove);
    await mkdir(join(t.dir, 'pg'));
    await writeFile(join(t.dir, 'pg', 'somebody-elses-file'), 'x');
    await expect(openPostgres({ pgliteDir: join(t.dir, 'pg'), poolMax: 1, initCacheDir: '' })).rejects.toThrow(
      /holds files but no Postgres cluster/,
    );
    expect(readdirSync(join(t.dir, 'pg'))).toEqual(['somebody-elses-file']);
    expect(existsSync(join(t.dir, 'pg.init'))).toBe(false);
  });
});

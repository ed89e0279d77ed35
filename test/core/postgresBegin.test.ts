import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { REAL_PG_ADMIN_URL } from '../support/stores.js';

/**
 * postgres.js 3.4.9 skipped reserving the connection for `sql.begin()` when BEGIN was the query
 * that filled the pipeline (porsager/postgres#1189): the transaction then failed with a TypeError
 * as an unhandled rejection, or ran other queries inside it. `patches/postgres+3.4.9.patch`
 * (applied by `patch-package` on install) fixes it; with `max_pipeline: 0` every BEGIN is at the
 * boundary, so this fails at once without the patch.
 */
describe('postgres.js transactions (patched)', () => {
  // max_pipeline is an option of postgres.js the types do not declare.
  const sql = postgres(REAL_PG_ADMIN_URL, { max: 1, max_pipeline: 0, onnotice: () => {} } as postgres.Options<
    Record<string, postgres.PostgresType>
  >);
  afterAll(() => sql.end());

  it('reserves the connection for every BEGIN, so concurrent transactions and queries stay apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        i % 2
          ? sql`SELECT current_setting('application_name') AS app`.then((r) => ({ app: r[0]?.app as string }))
          : sql.begin(async (tx) => {
              await tx`SELECT set_config('application_name', ${`tx-${i}`}, true)`;
              const [a] = await tx`SELECT txid_current() AS t`;
              const [b] = await tx`SELECT txid_current() AS t, current_setting('application_name') AS app`;
              return { same: a?.t === b?.t && b?.app === `tx-${i}` };
            }),
      ),
    );
    for (const r of results) {
      // A query outside every transaction never sees a transaction's local setting.
      if ('same' in r) expect(r.same).toBe(true);
      else expect(r.app).not.toMatch(/^tx-/);
    }
  });
});

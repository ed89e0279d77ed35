/**
 * Child process for the projection crash test: runs `counterProjection` against the store given
 * in argv and prints `batch <n>` as each batch starts applying and `done <checkpoint>` at the end.
 * Usage: projectionWorker.ts <pgliteDir|postgresUrl> [--until-caught-up]
 */
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { silentLogger } from '../../core/logger.js';
import { projectionRunner } from '../../core/runners/projectionRunner.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { counterProjection } from './counterProjection.js';

const [target = '', mode] = process.argv.slice(2);
const store = await openPostgres(
  target.startsWith('postgres') ? { databaseUrl: target, pgliteDir: '', poolMax: 4 } : { pgliteDir: target, poolMax: 1 },
);
const log = embeddedEventLog(store.sql, { pollMs: 20 });
const runner = projectionRunner({
  log,
  sql: store.sql,
  projection: counterProjection({ onBatch: (n) => process.stdout.write(`batch ${n}\n`), slowMs: 30 }),
  batchSize: 200,
  batchDelayMs: 5,
  logger: silentLogger(),
});
await runner.start();
if (mode === '--until-caught-up') {
  await runner.caughtUp(60_000);
  await runner.stop();
  process.stdout.write(`done ${await runner.checkpoint()}\n`);
  await log.close();
  await store.close();
  process.exit(0);
}

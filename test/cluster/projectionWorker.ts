/**
 * Child process for the projection takeover test: one "projections" process running
 * `orderedProjection` on the JetStream cluster with a projection lease, as `fleetgate start
 * --roles projections` does. Prints `active` when it takes the lease and `batch <n>` per batch.
 * Usage: projectionWorker.ts <name> <natsUrls> <postgresUrl>
 */
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { silentLogger } from '../../core/logger.js';
import { projectionLeases } from '../../core/runners/projectionLease.js';
import { projectionRunner } from '../../core/runners/projectionRunner.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { orderedProjection } from './orderedProjection.js';

const [name = 'w', natsUrls = '', databaseUrl = ''] = process.argv.slice(2);
const store = await openPostgres({ databaseUrl, pgliteDir: '', poolMax: 4 });
const log = await jetStreamEventLog({
  servers: natsUrls.split(','),
  replicas: 3,
  eventsMaxAgeMs: 0,
  gpsMaxAgeMs: 3_600_000,
  dlqMaxAgeMs: 0,
  duplicateWindowMs: 120_000,
  gpsDuplicateWindowMs: 120_000,
});
const leases = projectionLeases({ sql: store.sql, logger: silentLogger(), pollMs: 250 });
const announced = {
  ...leases,
  acquire: async (n: string, signal: AbortSignal) => {
    const lease = await leases.acquire(n, signal);
    if (lease) process.stdout.write('active\n');
    return lease;
  },
};
const runner = projectionRunner({
  log,
  sql: store.sql,
  projection: orderedProjection(name, { onBatch: (n) => process.stdout.write(`batch ${n}\n`), slowMs: 20 }),
  batchSize: 100,
  batchDelayMs: 5,
  logger: silentLogger(),
  leases: announced,
});
await runner.start();
process.stdout.write('started\n');
process.once('SIGTERM', async () => {
  await runner.stop();
  await leases.close();
  await log.close();
  await store.close();
  process.exit(0);
});

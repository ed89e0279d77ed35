/**
 * Child process for the MQTT crash test (T13, test/ingest/mqtt.crash.test.ts): the MQTT ingest
 * alone over the embedded event log in a real Postgres database. Prints `ready <port>` once it
 * listens; SIGTERM closes it cleanly, SIGKILL is the crash under test.
 *
 * Usage: npx tsx test/support/mqttIngestProcess.ts
 * Env:   INGEST_DATABASE_URL  a migrated database (freshPostgresDb)
 *        INGEST_PORT          MQTT port (0 = any free one)
 */
import { pino } from 'pino';
import { loadConfig } from '../../core/config.js';
import { deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { startMqttIngest } from '../../ingest/mqtt/broker.js';

const main = async () => {
  const databaseUrl = process.env.INGEST_DATABASE_URL;
  if (!databaseUrl) throw new Error('INGEST_DATABASE_URL is required');
  const store = await openPostgres({ databaseUrl, pgliteDir: '', poolMax: 4 });
  const log = embeddedEventLog(store.sql);
  const ingest = await startMqttIngest({
    config: loadConfig({ MQTT_CONNECTS_PER_IP_PER_MINUTE: '0', GPS_BATCH_MAX_MS: '2' }),
    log,
    devices: deviceRegistry(store.sql),
    logger: pino({ level: 'warn' }, pino.destination(2)),
    host: '127.0.0.1',
    port: Number(process.env.INGEST_PORT ?? 0),
  });
  process.stdout.write(`ready ${ingest.port}\n`);
  process.once('SIGTERM', () => {
    void (async () => {
      await ingest.close();
      await log.close();
      await store.close();
    })();
  });
};

main().catch((e: unknown) => {
  process.stderr.write(`mqttIngestProcess failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});

/**
 * The ingest worker thread: the device-facing servers (MQTT, OsmAnd) with their own JetStream and
 * Postgres connections, so a one-process gateway spends a second core on devices while its main
 * thread runs the API, the projections and the handlers. Started by `ingestThread.ts`.
 */
import { readlinkSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../../core/config.js';
import { deviceRegistry } from '../../core/devices/registry.js';
import { createLogger } from '../../core/logger.js';
import { openStores, probeStores, type Stores } from '../../core/main.js';
import { registry } from '../../core/metrics.js';
import { type ReadinessMonitor, readinessMonitor } from '../../core/readiness.js';
import { GatewayError } from '../../schemas/errors.js';
import { type DeviceIngest, startDeviceIngest } from '../deviceIngest.js';
import type { FromIngestWorker, ToIngestWorker } from './protocol.js';

/** Linux: `/proc/thread-self` links to `<pid>/task/<tid>`. */
const osThreadId = () => {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop()) || undefined;
  } catch {
    return undefined;
  }
};

const port = parentPort;
if (!port) throw new Error('ingest/worker/entry.js runs as a worker thread only');
const send = (m: FromIngestWorker) => port.postMessage(m);

// Every series of this registry says which thread it is from; process-wide ones are the main thread's to report.
registry.setDefaultLabels({ thread: 'ingest' });
const PROCESS_WIDE = /^fleetgate_process_/;

// The main thread's own variables (environment, .env and command line), not read again here.
const config = loadConfig((workerData as { env: Record<string, string | undefined> }).env);
const logger = createLogger(config.logLevel).child({ thread: 'ingest' });
let stores: Stores | undefined;
let ingest: DeviceIngest | undefined;
let readiness: ReadinessMonitor | undefined;

port.on('message', (m: ToIngestWorker) => {
  if (m.type === 'metrics') {
    void registry
      .getMetricsAsJSON()
      .then((all) => send({ type: 'metrics', id: m.id, metrics: all.filter((family) => !PROCESS_WIDE.test(family.name)) }));
  } else if (m.type === 'stop') {
    void (async () => {
      await ingest?.close().catch((err) => logger.error({ err }, 'closing ingest'));
      readiness?.stop();
      await stores?.close();
      send({ type: 'stopped' });
      port.close();
    })();
  }
});

try {
  // The main thread opened the same stores first and applied the migrations.
  stores = await openStores(config, logger, { clickhouse: false, migrate: false });
  const opened = stores;
  // This thread's own connections decide whether it takes devices, not the main thread's.
  readiness = readinessMonitor({ probe: () => probeStores(opened), logger });
  ingest = await startDeviceIngest({
    readiness,
    config,
    log: stores.log,
    sql: stores.postgres.sql,
    devices: deviceRegistry(stores.postgres.sql),
    logger,
  });
  send({ type: 'ready', mqttPort: ingest.mqttPort, osmandPort: ingest.osmandPort, tid: osThreadId() });
} catch (e) {
  readiness?.stop();
  await stores?.close();
  send({ type: 'failed', message: (e as Error).message, code: e instanceof GatewayError ? e.code : undefined });
  port.close();
}

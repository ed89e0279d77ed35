import { Worker } from 'node:worker_threads';
import type { Logger } from '../../core/logger.js';
import { addMetricsSource } from '../../core/metrics.js';
import { GatewayError, type GatewayErrorCode } from '../../schemas/errors.js';
import type { DeviceIngest } from '../deviceIngest.js';
import type { FromIngestWorker, ToIngestWorker } from './protocol.js';

const METRICS_TIMEOUT_MS = 2_000;

/**
 * Under `node --cpu-prof --cpu-prof-name=X` every thread writes its profile to X, and the main
 * thread, ending last, overwrites the worker's: the worker writes X with "-ingest" before the
 * extension instead (`npm run bench -- gps --cpu-prof=DIR`).
 */
export const ownProfileName = (argv: readonly string[]): string[] | undefined =>
  // Only then: an explicit list is checked, and a process-wide flag in it (--max-old-space-size)
  // would stop the worker, where an inherited one is ignored.
  argv.some((a) => a.startsWith('--cpu-prof-name='))
    ? argv.map((a) => (a.startsWith('--cpu-prof-name=') ? a.replace(/(\.cpuprofile)?$/, '-ingest$1') : a))
    : undefined;

/**
 * Runs the device ingest (`ingest/worker/entry.ts`) in a worker thread and resolves once it
 * listens, or rejects with its start-up error. A worker that dies on its own calls `onCrash`:
 * devices would be cut off while the process looked healthy, so the caller ends the process and
 * its supervisor starts a new one (unacknowledged points are resent by the devices).
 */
export const startIngestThread = async (opts: {
  /** The variables the main thread's config came from: the worker builds the same config from them. */
  env: Record<string, string | undefined>;
  logger: Logger;
  onCrash(reason: string): void;
  /** How long `close` waits for the worker to drain before terminating it (default 20 s). */
  stopTimeoutMs?: number;
  /** The worker's script (tests substitute one that misbehaves). */
  entry?: URL;
}): Promise<DeviceIngest> => {
  const { logger } = opts;
  const worker = new Worker(opts.entry ?? new URL('./entry.js', import.meta.url), {
    name: 'fleetgate-ingest',
    workerData: { env: opts.env },
    execArgv: ownProfileName(process.execArgv),
  });
  const send = (m: ToIngestWorker) => worker.postMessage(m);
  let stopping = false;
  let nextId = 0;
  const metricsWaiters = new Map<number, (m: FromIngestWorker & { type: 'metrics' }) => void>();
  let stopped: (() => void) | undefined;

  const ready = new Promise<FromIngestWorker & { type: 'ready' }>((resolve, reject) => {
    worker.on('message', (m: FromIngestWorker) => {
      if (m.type === 'ready') resolve(m);
      else if (m.type === 'failed') {
        stopping = true;
        reject(m.code ? new GatewayError(m.code as GatewayErrorCode, m.message) : new Error(`ingest thread: ${m.message}`));
      } else if (m.type === 'metrics') {
        metricsWaiters.get(m.id)?.(m);
        metricsWaiters.delete(m.id);
      } else if (m.type === 'stopped') stopped?.();
    });
    worker.once('error', (err) => {
      logger.fatal({ err }, 'ingest thread crashed');
      reject(err);
    });
    worker.once('exit', (code) => {
      reject(new Error(`ingest thread exited (${code}) before it was ready`));
      if (!stopping) opts.onCrash(`ingest thread exited (${code})`);
    });
  });
  const started = await ready;

  const removeSource = addMetricsSource(
    () =>
      new Promise((resolve, reject) => {
        const id = ++nextId;
        const timer = setTimeout(() => {
          metricsWaiters.delete(id);
          reject(new Error('ingest thread did not answer a metrics request'));
        }, METRICS_TIMEOUT_MS);
        metricsWaiters.set(id, (m) => {
          clearTimeout(timer);
          resolve(m.metrics);
        });
        send({ type: 'metrics', id });
      }),
    // MQTT and OsmAnd run only there; the main thread's copies (its modules are loaded) stay at 0.
    { owns: /^fleetgate_(mqtt|osmand)_/ },
  );
  logger.info({ mqttPort: started.mqttPort, osmandPort: started.osmandPort, tid: started.tid }, 'ingest thread ready');

  return {
    mqttPort: started.mqttPort,
    osmandPort: started.osmandPort,
    async close() {
      stopping = true;
      removeSource();
      const exited = new Promise<void>((resolve) => {
        if (worker.threadId === -1) resolve();
        else worker.once('exit', () => resolve());
      });
      // The worker drains its batchers (every accepted point appended) before it says so.
      const drained = new Promise<void>((resolve) => {
        stopped = resolve;
      });
      send({ type: 'stop' });
      const timeoutMs = opts.stopTimeoutMs ?? 20_000;
      const timer = setTimeout(() => {
        logger.error({ timeoutMs }, 'ingest thread did not stop in time: terminating it');
        void worker.terminate();
      }, timeoutMs);
      await Promise.race([drained.then(() => exited), exited]);
      clearTimeout(timer);
    },
  };
};

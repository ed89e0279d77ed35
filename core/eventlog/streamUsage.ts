import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import type { Sql } from '../stores/postgres.js';
import type { JetStreamConfig } from './jetstream.js';

/** How full the EVENTS stream is; `maxBytes` 0 = unbounded. */
export interface StreamUsage {
  bytes: number;
  maxBytes: number;
}

/** Share of the bound at which a warning is logged (and the example alert fires): room to act. */
export const STREAM_WARN_RATIO = 0.8;

/**
 * Samples the EVENTS stream's size into `fleetgate_eventlog_stream_bytes` and
 * `fleetgate_eventlog_stream_max_bytes`, and logs a warning once it passes 80 % of its bound:
 * a full JetStream EVENTS stream refuses every append (issue 23). Timer is unref'd.
 */
export const watchStreamUsage = (opts: { read: () => Promise<StreamUsage>; logger: Logger; intervalMs?: number }) => {
  let warned = false;
  const tick = async () => {
    try {
      const { bytes, maxBytes } = await opts.read();
      metrics.streamBytes.set({ stream: 'EVENTS' }, bytes);
      metrics.streamMaxBytes.set({ stream: 'EVENTS' }, maxBytes);
      const over = maxBytes > 0 && bytes >= maxBytes * STREAM_WARN_RATIO;
      if (over && !warned) {
        opts.logger.warn(
          { stream: 'EVENTS', bytes, maxBytes, percent: Math.round((bytes / maxBytes) * 100) },
          'the EVENTS stream is over 80 % of EVENTS_MAX_BYTES: raise it or add storage before appends are refused',
        );
      }
      warned = over;
    } catch (err) {
      opts.logger.warn({ err }, 'could not read the EVENTS stream size');
    }
  };
  void tick();
  const timer = setInterval(tick, opts.intervalMs ?? 60_000);
  timer.unref();
  return { tick, stop: () => clearInterval(timer) };
};

/** JetStream's own figures, over a connection of its own (the log's adapter exposes no stream info). */
export const jetStreamUsage = (cfg: JetStreamConfig) => {
  // Loaded here, as main.ts loads the adapter: the embedded mode never needs the NATS client.
  const nc = import('@nats-io/transport-node').then(({ connect }) =>
    connect({ servers: cfg.servers, name: `${cfg.name ?? 'fleetgate'}-usage`, maxReconnectAttempts: -1 }),
  );
  nc.catch(() => {});
  const manager = Promise.all([nc, import('@nats-io/jetstream')]).then(([c, { jetstreamManager }]) => jetstreamManager(c));
  manager.catch(() => {});
  return {
    read: async (): Promise<StreamUsage> => {
      const info = await (await manager).streams.info('EVENTS');
      return { bytes: info.state.bytes, maxBytes: Math.max(0, info.config.max_bytes) };
    },
    close: () => nc.then((c) => c.close()).catch(() => {}),
  };
};

/** The embedded log's table (every stream: it is one table), against the configured bound. */
export const embeddedUsage = (sql: Sql, maxBytes: number) => ({
  read: async (): Promise<StreamUsage> => {
    const [row] = await sql<{ bytes: string }[]>`SELECT pg_total_relation_size('fleetgate_log')::text AS bytes`;
    return { bytes: Number(row?.bytes ?? 0), maxBytes };
  },
  close: async () => {},
});

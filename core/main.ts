import type { Config } from './config.js';
import { type DataDirLock, lockDataDir } from './dataDirLock.js';
import { embeddedEventLog } from './eventlog/embedded.js';
import { instrumentedEventLog } from './eventlog/instrumented.js';
import type { EventLog } from './eventlog/port.js';
import { embeddedUsage, jetStreamUsage, watchStreamUsage } from './eventlog/streamUsage.js';
import { type HttpServer, startHttpServer } from './http/server.js';
import type { TemplatedApp } from './http/uws.js';
import type { Logger } from './logger.js';
import { mallocTuning, v8MemoryFlags } from './mallocTuning.js';
import { type IntakeReadiness, type Readiness, readinessMonitor } from './readiness.js';
import { erpReadiness } from './readModels/erpSync.js';
import { type AnyHandler, type HandlerRunner, handlerRunner } from './runners/handlerRunner.js';
import { projectionLeases } from './runners/projectionLease.js';
import { type Projection, type ProjectionRunner, projectionRunner } from './runners/projectionRunner.js';
import { startupWarnings } from './startupWarnings.js';
import { type ClickHouseStore, openClickHouse } from './stores/clickhouse.js';
import { migrate } from './stores/migrate.js';
import { openPostgres, type PostgresStore } from './stores/postgres.js';

export interface Stores {
  postgres: PostgresStore;
  clickhouse: ClickHouseStore | undefined;
  log: EventLog;
  close(): Promise<void>;
}

/**
 * Opens what a process needs, in one place for every command: the data-dir lock (when PGlite or
 * chdb live in DATA_DIR), Postgres and ClickHouse (in parallel), migrations, then the event log.
 */
export const openStores = async (
  config: Config,
  logger: Logger,
  opts: {
    clickhouse: boolean;
    /** false where another thread of this process applied the migrations already */
    migrate?: boolean;
  },
): Promise<Stores> => {
  const embedded = config.mode.postgres === 'pglite' || (opts.clickhouse && config.mode.clickhouse === 'chdb');
  const lock: DataDirLock | undefined = embedded ? await lockDataDir(config.dataDir) : undefined;
  const opened: { close(): Promise<void> }[] = [];
  try {
    const t0 = Date.now();
    const track = <T extends { close(): Promise<void> }>(s: T) => {
      opened.push(s);
      return s;
    };
    const [postgres, clickhouse] = await Promise.all([
      openPostgres(config.postgres).then(track),
      opts.clickhouse ? openClickHouse(config.clickhouse).then(track) : undefined,
    ]);
    logger.info(
      { postgres: postgres.target, clickhouse: clickhouse?.target ?? 'not opened', ms: Date.now() - t0 },
      'stores open',
    );
    if (opts.migrate !== false) {
      const applied = await migrate({ postgres, clickhouse, gpsRetentionDays: config.gps.retentionDays, logger });
      if (applied.length) logger.info({ applied }, 'migrations applied');
    }
    const log = instrumentedEventLog(
      config.nats
        ? await (await import('./eventlog/jetstream.js')).jetStreamEventLog(config.nats, {
            warn: (message, details) => logger.warn(details, message),
          })
        : // PGlite is one process (the data-dir lock): every append is local and wakes its readers
          // at once, and consumers know when their redeliveries fall due; each poll is a query on its one backend.
          embeddedEventLog(postgres.sql, postgres.target === 'pglite' ? { pollMs: 1_000, onlyWriter: true } : { pollMs: 200 }),
    );
    logger.info({ eventLog: log.kind }, 'event log open');
    const usage = config.nats ? jetStreamUsage(config.nats) : embeddedUsage(postgres.sql, config.eventsMaxBytes);
    const usageWatch = watchStreamUsage({ read: usage.read, logger });
    return {
      postgres,
      clickhouse,
      log,
      close: async () => {
        usageWatch.stop();
        await usage.close();
        await log.close().catch((e) => logger.error({ err: e }, 'closing event log'));
        await clickhouse?.close().catch((e) => logger.error({ err: e }, 'closing clickhouse'));
        await postgres.close().catch((e) => logger.error({ err: e }, 'closing postgres'));
        await lock?.release();
      },
    };
  } catch (e) {
    for (const s of opened.reverse()) await s.close().catch(() => {});
    await lock?.release();
    throw e;
  }
};

/** Whether the stores answer: Postgres, the event log and (when opened) ClickHouse. */
export const probeStores = async (stores: Stores): Promise<Readiness> => {
  const [pg, log, ch] = await Promise.all([
    stores.postgres.sql`SELECT 1`.then(
      () => true,
      () => false,
    ),
    stores.log.ping(),
    stores.clickhouse
      ? stores.clickhouse.client.ping().then(
          (r) => r.success,
          () => false,
        )
      : Promise.resolve(true),
  ]);
  return { ready: pg && log && ch, checks: { postgres: pg, eventLog: log, clickhouse: ch } };
};

export interface GatewayParts {
  /** The `projections` role's read models (Postgres folds and sinks such as ClickHouse), built once the stores are open. */
  projections(stores: Stores): readonly Projection[];
  /** The `handlers` role's handlers, built once the stores are open (guards and logs read Postgres). */
  handlers(stores: Stores): readonly AnyHandler[] | Promise<readonly AnyHandler[]>;
  /** The `api` role's routes, added to the HTTP server before it listens. */
  mountApi?(app: TemplatedApp, stores: Stores): Promise<{ close(): Promise<void> } | undefined>;
  /** The `ingest` role: device-facing servers (MQTT, OsmAnd). */
  startIngest?(stores: Stores, readiness: IntakeReadiness): Promise<{ close(): Promise<void> }>;
  /** The `ingest` role's WebSocket routes on the HTTP server (driver phones). */
  mountIngest?(app: TemplatedApp, stores: Stores, readiness: IntakeReadiness): Promise<{ close(): Promise<void> }>;
}

export interface Gateway {
  stores: Stores;
  http: HttpServer | undefined;
  projections: readonly ProjectionRunner[];
  handlers: readonly HandlerRunner[];
  /** Graceful: stop intake, drain handlers, commit projections, close stores. */
  stop(): Promise<void>;
}

/** `fleetgate start`: the roles of `config.roles` in this process. */
export const startGateway = async (config: Config, logger: Logger, parts: GatewayParts): Promise<Gateway> => {
  const roles = new Set(config.roles);
  const stores = await openStores(config, logger, { clickhouse: roles.has('projections') || roles.has('api') });
  const warnings = startupWarnings(config);
  for (const warning of Object.values(warnings)) logger.warn(warning);
  // Probed every second only where an intake asks it (MQTT CONNECT, phone upgrades); else on /readyz.
  // The ERP is a detail only: an ERP that is down never makes the gateway unready.
  // Set once the handlers run; a probe may come earlier. A stalled consumer is a detail too: the
  // process still keeps what it accepts, the commands wait (RUNBOOK "FleetgateConsumerStalled").
  let stalledConsumers = (): string[] => [];
  const probe = async (): Promise<Readiness> => {
    const r = await probeStores(stores);
    const stalled = stalledConsumers();
    const checks = stalled.length ? { ...r.checks, stalledConsumers: stalled.join(', ') } : r.checks;
    if (!config.erp.autoSync) return { ...r, checks };
    const erp = await erpReadiness(stores.postgres.sql).catch(() => 'unknown');
    return { ...r, checks: { ...checks, erp } };
  };
  const readiness = readinessMonitor({ probe, logger, notes: warnings, watch: roles.has('ingest') });
  // A Postgres server may be shared by several processes with the projections role: each
  // projection runs in one of them at a time. PGlite is one process (the data-dir lock).
  const leases =
    roles.has('projections') && stores.postgres.target === 'postgres'
      ? projectionLeases({ sql: stores.postgres.sql, logger, pollMs: config.projections.leasePollMs })
      : undefined;
  const projections: ProjectionRunner[] = roles.has('projections')
    ? parts.projections(stores).map((projection) =>
        projectionRunner({
          log: stores.log,
          sql: stores.postgres.sql,
          projection,
          logger,
          ...config.projections,
          ...(leases && { leases }),
        }),
      )
    : [];
  const handlers = roles.has('handlers')
    ? (await parts.handlers(stores)).map((handler) => handlerRunner({ log: stores.log, handler, logger, ...config.handlers }))
    : [];
  stalledConsumers = () => handlers.flatMap((h) => h.stalled());
  let http: HttpServer | undefined;
  let ingest: { close(): Promise<void> } | undefined;
  let api: { close(): Promise<void> } | undefined;
  let sockets: { close(): Promise<void> } | undefined;
  try {
    for (const p of projections) await p.start();
    for (const h of handlers) await h.start();
    if (roles.has('ingest') && parts.startIngest) ingest = await parts.startIngest(stores, readiness);
    http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      internal:
        config.metrics.port === config.http.port && config.http.port !== 0
          ? undefined
          : { host: config.metrics.host, port: config.metrics.port, explicit: config.metrics.portExplicit },
      logger,
      mount: async (app: TemplatedApp) => {
        if (roles.has('ingest') && parts.mountIngest) sockets = await parts.mountIngest(app, stores, readiness);
        if (roles.has('api') && parts.mountApi) api = await parts.mountApi(app, stores);
      },
      readiness: readiness.check,
    });
  } catch (e) {
    await sockets?.close();
    await ingest?.close();
    await api?.close();
    await Promise.all(handlers.map((h) => h.stop(1_000)));
    await Promise.all(projections.map((p) => p.stop()));
    readiness.stop();
    await leases?.close();
    await stores.close();
    throw e;
  }
  logger.info(
    {
      roles: [...roles],
      mode: config.mode,
      ingestThread: roles.has('ingest') ? config.ingest.thread : undefined,
      dataDir: config.dataDir,
      httpPort: http.port,
      metricsPort: http.metricsPort,
      malloc: mallocTuning(),
      v8Flags: v8MemoryFlags(),
    },
    'fleetgate ready',
  );

  let stopping: Promise<void> | undefined;
  return {
    stores,
    http,
    projections,
    handlers,
    stop: () =>
      (stopping ??= (async () => {
        logger.info('shutting down: intake stopped');
        http?.stopIntake();
        await sockets?.close();
        await ingest?.close();
        await Promise.all(handlers.map((h) => h.stop(config.shutdownTimeoutMs)));
        await Promise.all(projections.map((p) => p.stop()));
        await leases?.close();
        http?.close();
        await api?.close();
        readiness.stop();
        await stores.close();
        logger.info('shut down cleanly');
      })()),
  };
};

#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { postgresApiKeyStore } from '../api/auth.js';
import { mountApi } from '../api/index.js';
import { buildHandlers } from '../handlers/index.js';
import { configuredPaymentProviders, paymentProviders } from '../handlers/payment/index.js';
import { reconcilePayments, reconcilePeriod, reconcileReport } from '../handlers/payment/reconcile.js';
import { smsBalanceReader } from '../handlers/sms/index.js';
import { startDeviceIngest } from '../ingest/deviceIngest.js';
import { startIngestThread } from '../ingest/worker/ingestThread.js';
import { mountDriverSocket } from '../ingest/ws/driverSocket.js';
import { projections } from '../projections/index.js';
import { ROLES } from '../schemas/config.js';
import { isGatewayError } from '../schemas/errors.js';
import { DeviceId } from '../schemas/http/devices.js';
import { isScope, SCOPES } from '../schemas/http/scopes.js';
import { type Config, loadConfig, readEnv } from './config.js';
import { appendDeviceAudit } from './devices/audit.js';
import { type DeviceRegistry, deviceRegistry } from './devices/registry.js';
import { createLogger, type Logger } from './logger.js';
import { openStores, startGateway } from './main.js';
import { rebuildProjection } from './runners/projectionRunner.js';
import { openAnalyticsClient } from './stores/clickhouseAnalytics.js';
import type { Sql } from './stores/postgres.js';

const USAGE = `fleetgate – event-sourced edge gateway for a fleet CRM

Usage:
  fleetgate start [--roles ${ROLES.join(',')}]   run the gateway (all roles by default)
  fleetgate migrate                                  apply Postgres and ClickHouse migrations
  fleetgate replay NAME                              rebuild a projection from the event log
  fleetgate apikeys create --scopes sms,email [--name NAME]
                                                     create an API key (printed once)
  fleetgate apikeys list                             list keys (prefix, scopes; never the key)
  fleetgate devices add ID [--kind unit|phone] [--driver DRIVER_ID] [--name NAME]
                                                     register a device (its token is printed once)
  fleetgate apikeys revoke PREFIX                    revoke a key
  fleetgate payments reconcile --since=DATE [--until=DATE] [--fix]
                                                     compare the providers' payments and refunds with the ledger
Scopes: ${SCOPES.join(', ')} (admin implies all).
  fleetgate help

Configuration comes from the environment and an optional .env (see README).`;

const fail = (message: string, code = 2): never => {
  process.stderr.write(`fleetgate: ${message}\n`);
  process.exit(code);
};

/** Runs `work` and exits; a GatewayError is a clear one-line (or listed) message, anything else a crash. */
const run = async (logger: Logger, work: () => Promise<void>) => {
  try {
    await work();
    process.exit(process.exitCode ?? 0); // a lost ingest thread set 1
  } catch (e) {
    if (isGatewayError(e)) fail(e.message, 1);
    logger.fatal({ err: e }, 'failed');
    process.exit(1);
  }
};

/** `env`: the variables `config` was loaded from (the ingest thread loads its own copy from them). */
const start = async (config: Config, env: Record<string, string | undefined>, logger: Logger) => {
  let devices: DeviceRegistry | undefined;
  // One registry (and auth cache) per process, shared by the API and the MQTT ingest.
  const registryOf = (sql: Sql) => {
    devices ??= deviceRegistry(sql);
    return devices;
  };
  const gateway = await startGateway(config, logger, {
    projections: (stores) => projections({ clickhouse: stores.clickhouse?.client }, config),
    handlers: (stores) => buildHandlers({ config, logger, log: stores.log, sql: stores.postgres.sql }),
    mountApi: async (app, stores) => {
      const ch = stores.clickhouse;
      const analytics = ch ? await openAnalyticsClient(config, ch) : undefined;
      const mounted = await mountApi(
        app,
        {
          config,
          log: stores.log,
          sql: stores.postgres.sql,
          logger,
          devices: registryOf(stores.postgres.sql),
          smsBalance: smsBalanceReader(config.sms),
        },
        { clickhouse: ch?.client, analytics: analytics?.client },
      );
      return {
        close: async () => {
          await mounted.close();
          await analytics?.close();
        },
      };
    },
    startIngest: (stores) =>
      config.ingest.thread === 'worker'
        ? startIngestThread({
            env,
            logger,
            // Within the drain time, so the CLI's own forced exit (5 s later) never cuts the worker short.
            stopTimeoutMs: config.shutdownTimeoutMs,
            onCrash: (reason) => {
              // Devices are cut off while the API would still look healthy: end the process, so
              // its supervisor starts a whole one (unacknowledged points are resent by the devices).
              logger.fatal({ reason }, 'ingest thread lost: shutting down');
              process.exitCode = 1;
              process.kill(process.pid, 'SIGTERM');
            },
          })
        : startDeviceIngest({
            config,
            log: stores.log,
            sql: stores.postgres.sql,
            devices: registryOf(stores.postgres.sql),
            logger,
          }),
    mountIngest: async (app, stores) =>
      mountDriverSocket(app, {
        config,
        log: stores.log,
        devices: registryOf(stores.postgres.sql),
        logger: logger.child({ part: 'ws' }),
      }),
  });
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting without draining');
        process.exit(1);
      }
      logger.info({ signal }, 'signal received');
      const force = setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
        process.exit(1);
      }, config.shutdownTimeoutMs + 5_000);
      force.unref();
      gateway.stop().then(resolve, (e) => {
        logger.error({ err: e }, 'shutdown failed');
        process.exit(1);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
};

/** `fleetgate apikeys ...`: works on the stores directly (stop an embedded gateway first: it holds DATA_DIR). */
const apikeys = async (config: Config, logger: Logger, args: string[], values: { scopes?: string; name?: string }) => {
  const [sub] = args;
  if (sub === 'create') {
    const scopes = (values.scopes ?? fail('apikeys create needs --scopes, e.g. --scopes sms,email'))
      .split(',')
      .map((s) => s.trim());
    const bad = scopes.filter((s) => !isScope(s));
    if (bad.length || scopes.length === 0) fail(`unknown scope(s) ${bad.join(', ')}; known: ${SCOPES.join(', ')}`);
    return run(logger, async () => {
      const stores = await openStores(config, logger, { clickhouse: false });
      try {
        const { key, prefix } = await postgresApiKeyStore(stores.postgres.sql).create(scopes.filter(isScope), values.name ?? '');
        process.stdout.write(`${key}\n`);
        process.stderr.write(`fleetgate: key ${prefix} created with scopes ${scopes.join(',')}; it is not shown again\n`);
      } finally {
        await stores.close();
      }
    });
  }
  if (sub === 'list' || sub === 'revoke') {
    const prefix = sub === 'revoke' ? (args[1] ?? fail('apikeys revoke needs the key prefix (see apikeys list)')) : '';
    return run(logger, async () => {
      const stores = await openStores(config, logger, { clickhouse: false });
      try {
        const keys = postgresApiKeyStore(stores.postgres.sql);
        if (sub === 'revoke') {
          if (!(await keys.revoke(prefix))) fail(`no active key with prefix ${prefix}`, 1);
          process.stdout.write(`revoked ${prefix}\n`);
          return;
        }
        for (const k of await keys.list()) {
          const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
          process.stdout.write(`${k.prefix}\t${k.scopes.join(',')}\t${state}\t${k.name}\n`);
        }
      } finally {
        await stores.close();
      }
    });
  }
  return fail('apikeys needs create, list or revoke');
};

/** `fleetgate devices add ID`: same registry as `POST /api/v1/devices`. */
const devices = async (
  config: Config,
  logger: Logger,
  args: string[],
  values: { kind?: string; driver?: string; name?: string },
) => {
  const [sub, id] = args;
  if (sub !== 'add' || !id) return fail('usage: fleetgate devices add ID [--kind unit|phone] [--driver DRIVER_ID]');
  if (!Value.Check(DeviceId, id)) fail(`invalid device id "${id}": ${DeviceId.description}`);
  const kind = values.kind ?? 'unit';
  if (kind !== 'unit' && kind !== 'phone') fail(`--kind must be unit or phone, not "${kind}"`);
  return run(logger, async () => {
    const stores = await openStores(config, logger, { clickhouse: false });
    try {
      const created = await deviceRegistry(stores.postgres.sql).create({
        id,
        kind: kind as 'unit' | 'phone',
        ...(values.driver ? { driverId: values.driver } : {}),
        ...(values.name ? { name: values.name } : {}),
      });
      // Like the API: running gateways learn of it through the log (their credential caches).
      await appendDeviceAudit(stores.log, {
        type: 'device.registered',
        source: 'cli',
        data: { deviceId: created.id, kind: created.kind, driverId: values.driver ?? null },
      });
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(`fleetgate: device ${id} (${created.kind}) registered; its token is not shown again\n`);
    } finally {
      await stores.close();
    }
  });
};

const main = async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: {
      roles: { type: 'string' },
      scopes: { type: 'string' },
      kind: { type: 'string' },
      driver: { type: 'string' },
      name: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      fix: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command = 'help', ...rest] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const env = readEnv(process.env);
  if (values.roles !== undefined) env.ROLES = values.roles;
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    return fail(isGatewayError(e) ? e.message : String(e), 2);
  }
  const logger = createLogger(config.logLevel);
  switch (command) {
    case 'start':
      return run(logger, () => start(config, env, logger));
    case 'migrate':
      return run(logger, async () => {
        const stores = await openStores(config, logger, { clickhouse: true });
        await stores.close();
      });
    case 'replay': {
      const name = rest[0] ?? fail('replay needs a projection name');
      return run(logger, async () => {
        const stores = await openStores(config, logger, { clickhouse: true });
        try {
          // Listed with the stores open: a sink (gps_tracking) is built with its store's client.
          const all = projections({ clickhouse: stores.clickhouse?.client }, config);
          const projection = all.find((p) => p.name === name);
          if (!projection) {
            process.stderr.write(`fleetgate: unknown projection "${name}"; known: ${all.map((p) => p.name).join(', ')}\n`);
            process.exitCode = 2;
            return;
          }
          const seq = await rebuildProjection({
            log: stores.log,
            sql: stores.postgres.sql,
            projection,
            logger,
            ...config.projections,
          });
          logger.info({ projection: name, checkpoint: seq }, 'replay finished');
        } finally {
          await stores.close();
        }
      });
    }
    case 'apikeys':
      return apikeys(config, logger, rest, values);
    case 'devices':
      return devices(config, logger, rest, values);
    case 'payments': {
      if (rest[0] !== 'reconcile') return fail('usage: fleetgate payments reconcile --since=DATE [--until=DATE] [--fix]');
      const period = reconcilePeriod(values.since, values.until);
      if (typeof period === 'string') return fail(period);
      return run(logger, async () => {
        const stores = await openStores(config, logger, { clickhouse: false });
        try {
          const fix = values.fix === true;
          const providers = configuredPaymentProviders(config.payments);
          const deps = { log: stores.log, sql: stores.postgres.sql, provider: paymentProviders(config.payments) };
          const diffs = await reconcilePayments(deps, { ...period, fix, providers });
          process.stdout.write(reconcileReport(diffs, fix));
          if (diffs.some((d) => !d.fixed)) process.exitCode = 3;
        } finally {
          await stores.close();
        }
      });
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`);
  }
};

main().catch((e) => fail(e instanceof Error ? e.message : String(e)));

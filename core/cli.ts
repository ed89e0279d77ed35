#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { postgresApiKeyStore } from '../api/auth.js';
import { projections } from '../projections/index.js';
import { ROLES } from '../schemas/config.js';
import { isGatewayError } from '../schemas/errors.js';
import { DeviceId } from '../schemas/http/devices.js';
import { isScope, SCOPES } from '../schemas/http/scopes.js';
import { isRecordType, RECORD_TYPES } from '../schemas/records/common.js';
import { type Config, loadConfig, readEnv } from './config.js';
import { DLQ_USAGE, DlqUsageError, dlqCli } from './deadLetters/cli.js';
import { deadLetterOps } from './deadLetters/deadLetters.js';
import { appendDeviceAudit } from './devices/audit.js';
import { type DeviceRegistry, deviceRegistry } from './devices/registry.js';
import { integrationsCommand, rotateSecrets } from './integrations/cli.js';
import { type Integrations, openIntegrations, PGLITE_SETTINGS_POLL_MS } from './integrations/index.js';
import { rotateThroughGateway } from './integrations/remoteRotate.js';
import { createLogger, type Logger } from './logger.js';
import { openStores, startGateway } from './main.js';
import { importRecords } from './records/import/importRecords.js';
import { progressLine } from './records/import/progress.js';
import { rebuildProjection } from './runners/projectionRunner.js';
import { SIMULATE_USAGE, type SimulateArgs, SimulateUsageError, simulateOptions } from './simulate/options.js';
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
  ${DLQ_USAGE}
  fleetgate records import TYPE FILE [--restart]     load CRM records (${RECORD_TYPES.join(', ')}) from NDJSON
                                                     or CSV with a header row; resumes after an interruption
  fleetgate integrations list|show NAME|test NAME    run-time integration settings (credentials never shown)
  fleetgate integrations set NAME field=value…       change settings (field=- reads the value from stdin)
  fleetgate secrets rotate                           re-encrypt stored credentials under SECRETS_ACTIVE_KEY
  fleetgate payments reconcile --since=DATE [--until=DATE] [--fix]
                                                     compare the providers' payments and refunds with the ledger
  fleetgate telegram set-webhook|delete-webhook|webhook-info
                                                     register PUBLIC_URL/webhooks/telegram with the bot (or remove it)
  ${SIMULATE_USAGE}
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
  // Loaded here, not at the top: the roles' modules (vendor SDKs, uWS, Aedes) cost about 40 MB of
  // RSS, which the one-shot commands (records import, apikeys) have no use for.
  const [
    { mountApi },
    { buildHandlers },
    { smsBalanceReader, smsProvidersFromSettings },
    { startDeviceIngest },
    { startIngestThread },
    { mountDriverSocket },
    { integrationProbe },
  ] = await Promise.all([
    import('../api/index.js'),
    import('../handlers/index.js'),
    import('../handlers/sms/index.js'),
    import('../ingest/deviceIngest.js'),
    import('../ingest/worker/ingestThread.js'),
    import('../ingest/ws/driverSocket.js'),
    import('../handlers/probes/index.js'),
  ]);
  let devices: DeviceRegistry | undefined;
  // One registry (and auth cache) per process, shared by the API and the MQTT ingest.
  const registryOf = (sql: Sql) => {
    devices ??= deviceRegistry(sql);
    return devices;
  };
  // One settings reader per process, shared by the handlers and the API.
  let integrations: Promise<Integrations> | undefined;
  // PGlite: every settings change is made by this process, which re-reads at once (the API after a
  // change, a rotation); the poll only catches what that missed, a query on the one backend each.
  const integrationsOf = (pg: { sql: Sql; target: 'pglite' | 'postgres' }) =>
    (integrations ??= openIntegrations(
      config,
      pg.sql,
      logger,
      pg.target === 'pglite' ? { pollMs: PGLITE_SETTINGS_POLL_MS } : {},
    ));
  const gateway = await startGateway(config, logger, {
    projections: (stores) => projections({ clickhouse: stores.clickhouse?.client }, config),
    handlers: async (stores) =>
      buildHandlers({
        config,
        logger,
        log: stores.log,
        sql: stores.postgres.sql,
        integrations: await integrationsOf(stores.postgres),
        ...(stores.clickhouse ? { clickhouse: stores.clickhouse.client } : {}),
      }),
    mountApi: async (app, stores) => {
      const ch = stores.clickhouse;
      const analytics = ch ? await openAnalyticsClient(config, ch) : undefined;
      const settings = await integrationsOf(stores.postgres);
      const probe = integrationProbe(settings.settings);
      const mounted = await mountApi(
        app,
        {
          config,
          log: stores.log,
          sql: stores.postgres.sql,
          logger,
          devices: registryOf(stores.postgres.sql),
          // Built per call from the settings in force: a balance check is rare, a stale credential is not.
          smsBalance: () => smsBalanceReader(config.sms, smsProvidersFromSettings(settings.settings, config.sms))(),
          integrations: settings,
          probeIntegration: (name) => probe(name as Parameters<typeof probe>[0]),
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
    startIngest: (stores, readiness) =>
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
            readiness,
          }),
    mountIngest: async (app, stores, readiness) =>
      mountDriverSocket(app, {
        config,
        log: stores.log,
        readiness,
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

/** `fleetgate records import TYPE FILE`: the batch route's validation and append, straight to the log. */
const records = async (config: Config, logger: Logger, args: string[], values: { restart?: boolean }) => {
  const [sub, type, file] = args;
  if (sub !== 'import' || !type || !file) return fail('usage: fleetgate records import TYPE FILE [--restart]');
  if (!isRecordType(type)) return fail(`unknown record type "${type}"; known: ${RECORD_TYPES.join(', ')}`);
  return run(logger, async () => {
    const stores = await openStores(config, logger, { clickhouse: false });
    const err = (line: string) => process.stderr.write(`fleetgate: ${line}\n`);
    const startedAt = Date.now();
    let last = 0;
    try {
      const result = await importRecords({
        log: stores.log,
        type,
        file,
        dataDir: config.dataDir,
        restart: values.restart === true,
        onRefused: (line, reason) => err(`${file}:${line}: refused: ${reason}`),
        onProgress: (p) => {
          if (Date.now() - last < 1_000) return;
          last = Date.now();
          err(progressLine(p, startedAt));
        },
      });
      if (result.alreadyDone) {
        err(`${file} was imported already (${result.appended} records); --restart imports it again`);
      } else if (result.resumedAt > 0) {
        err(`resumed at record ${result.resumedAt}`);
      }
      err(`done: ${progressLine(result, startedAt)}`);
      process.stdout.write(`${JSON.stringify({ type, appended: result.appended, refused: result.refused })}\n`);
    } finally {
      await stores.close();
    }
  });
};

/**
 * `fleetgate simulate`: a fleet driving against a running gateway, through its public ports only
 * (so it needs no stores and works beside an embedded gateway). The first Ctrl-C stops it cleanly
 * (answers awaited, connections closed), a second one at once.
 */
const simulateCommand = async (config: Config, env: Record<string, string | undefined>, logger: Logger, args: SimulateArgs) => {
  let options: ReturnType<typeof simulateOptions>;
  try {
    options = simulateOptions(args, config, env);
  } catch (e) {
    if (e instanceof SimulateUsageError) return fail(e.message);
    throw e;
  }
  return run(logger, async () => {
    const { simulate } = await import('./simulate/runner.js');
    const stop = new AbortController();
    let signals = 0;
    const onSignal = () => {
      if (++signals > 1) process.exit(130);
      process.stderr.write('fleetgate: stopping the simulation (Ctrl-C again to quit at once)\n');
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const summary = await simulate({
      ...options,
      out: (line) => process.stderr.write(`simulate: ${line}\n`),
      signal: stop.signal,
    });
    process.stdout.write(`${JSON.stringify(summary)}\n`);
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
      consumer: { type: 'string' },
      from: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean' },
      restart: { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      fix: { type: 'boolean' },
      devices: { type: 'string' },
      rate: { type: 'string' },
      mix: { type: 'string' },
      seed: { type: 'string' },
      duration: { type: 'string' },
      host: { type: 'string' },
      url: { type: 'string' },
      mqtt: { type: 'string' },
      osmand: { type: 'string' },
      prefix: { type: 'string' },
      'offline-share': { type: 'string' },
      'offline-for': { type: 'string' },
      'crm-every': { type: 'string' },
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
    case 'dlq':
      return run(logger, async () => {
        const stores = await openStores(config, logger, { clickhouse: false });
        try {
          const write = (t: string) => process.stdout.write(`${t}\n`);
          process.exitCode = await dlqCli(deadLetterOps({ log: stores.log, sql: stores.postgres.sql }), rest, values, write);
        } catch (e) {
          if (!(e instanceof DlqUsageError)) throw e;
          process.stderr.write(`fleetgate: ${e.message}\n`);
          process.exitCode = 2;
        } finally {
          await stores.close();
        }
      });
    case 'payments': {
      if (rest[0] !== 'reconcile') return fail('usage: fleetgate payments reconcile --since=DATE [--until=DATE] [--fix]');
      return run(logger, async () => {
        // Loaded here: the provider SDKs are of no use to the other one-shot commands.
        const [{ configuredPaymentProviders, paymentProviders }, { reconcilePayments, reconcilePeriod, reconcileReport }] =
          await Promise.all([import('../handlers/payment/index.js'), import('../handlers/payment/reconcile.js')]);
        const period = reconcilePeriod(values.since, values.until);
        if (typeof period === 'string') return fail(period);
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
    case 'records':
      return records(config, logger, rest, values);
    case 'simulate':
      return simulateCommand(config, env, logger, values);
    case 'telegram':
      return run(logger, async () => {
        const { telegramWebhookCommand } = await import('./telegram/webhookAdmin.js');
        await telegramWebhookCommand(
          {
            // The environment's bot, whatever TELEGRAM_TEST_MODE says: registering is not sending.
            token: env.TELEGRAM_BOT_TOKEN,
            apiRoot: config.telegram.apiUrl,
            publicUrl: config.api.publicUrl,
            secret: config.webhooks.telegramSecret,
            out: (line) => process.stdout.write(`${line}\n`),
          },
          rest[0],
        );
      });
    case 'integrations':
    case 'secrets':
      return run(logger, async () => {
        // Distributed mode works beside a running gateway; embedded, DATA_DIR is the gateway's (stop it first).
        const stores = await openStores(config, logger, { clickhouse: false }).catch(async (e: unknown) => {
          // ...except a rotation, which the running gateway does when asked.
          if (command !== 'secrets' || !isGatewayError(e) || e.code !== 'GW_ERR_DATA_DIR_LOCKED') throw e;
          await rotateThroughGateway(config, process.env, (line) => process.stdout.write(`${line}\n`));
          return undefined;
        });
        if (!stores) return;
        const integrations = await openIntegrations(config, stores.postgres.sql, logger);
        const out = (line: string) => process.stdout.write(`${line}\n`);
        try {
          if (command === 'secrets') {
            if (rest[0] !== 'rotate') fail('usage: fleetgate secrets rotate');
            await rotateSecrets({ log: stores.log, integrations, out });
            return;
          }
          const { integrationProbe } = await import('../handlers/probes/index.js');
          const probe = integrationProbe(integrations.settings);
          const readStdin = async () => {
            const chunks: Buffer[] = [];
            for await (const c of process.stdin) chunks.push(c as Buffer);
            return Buffer.concat(chunks).toString('utf8');
          };
          await integrationsCommand({ log: stores.log, integrations, probe, out, readStdin }, rest);
        } finally {
          integrations.settings.close();
          await stores.close();
        }
      });
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`);
  }
};

main().catch((e) => fail(e instanceof Error ? e.message : String(e)));

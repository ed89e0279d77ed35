#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { buildHandlers } from '../handlers/index.js';
import { projections } from '../projections/index.js';
import { ROLES } from '../schemas/config.js';
import { isGatewayError } from '../schemas/errors.js';
import { type Config, loadConfig, readEnv } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { openStores, startGateway } from './main.js';
import { rebuildProjection } from './runners/projectionRunner.js';

const USAGE = `fleetgate – event-sourced edge gateway for a fleet CRM

Usage:
  fleetgate start [--roles ${ROLES.join(',')}]   run the gateway (all roles by default)
  fleetgate migrate                                  apply Postgres and ClickHouse migrations
  fleetgate replay NAME                              rebuild a projection from the event log
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
    process.exit(0);
  } catch (e) {
    if (isGatewayError(e)) fail(e.message, 1);
    logger.fatal({ err: e }, 'failed');
    process.exit(1);
  }
};

const start = async (config: Config, logger: Logger) => {
  const gateway = await startGateway(config, logger, { projections, handlers: buildHandlers(config) });
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

const main = async () => {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    strict: true,
    options: { roles: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
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
      return run(logger, () => start(config, logger));
    case 'migrate':
      return run(logger, async () => {
        const stores = await openStores(config, logger, { clickhouse: true });
        await stores.close();
      });
    case 'replay': {
      const name = rest[0] ?? fail('replay needs a projection name');
      const projection = projections.find((p) => p.name === name);
      if (!projection) {
        return fail(`unknown projection "${name}"; known: ${projections.map((p) => p.name).join(', ') || '(none yet)'}`);
      }
      return run(logger, async () => {
        const stores = await openStores(config, logger, { clickhouse: true });
        try {
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
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`);
  }
};

main().catch((e) => fail(e instanceof Error ? e.message : String(e)));

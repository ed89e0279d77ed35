import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { firstStartKeyPath } from '../paths.js';
import type { SimulateOptions } from './runner.js';
import { isProtocol, PROTOCOLS, type Protocol } from './transports/link.js';

export const SIMULATE_USAGE = `fleetgate simulate --devices N --rate R [--mix mqtt,ws,osmand] [--seed S] [--duration D]
                   [--host H | --url URL --mqtt URL --osmand URL] [--prefix sim] [--offline-share F] [--offline-for S] [--crm-every S]
                                                     drive N vehicles around a city against a running gateway`;

/** The command line's simulate options, as parseArgs gives them (all strings). */
export interface SimulateArgs {
  devices?: string;
  rate?: string;
  mix?: string;
  seed?: string;
  duration?: string;
  host?: string;
  url?: string;
  mqtt?: string;
  osmand?: string;
  prefix?: string;
  'offline-share'?: string;
  'offline-for'?: string;
  'crm-every'?: string;
}

export class SimulateUsageError extends Error {}

const number = (name: string, raw: string | undefined, fallback: number, min: number, max: number, integer = false) => {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new SimulateUsageError(`--${name} "${raw}": expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return v;
};

/**
 * The key the simulation provisions with: FLEETGATE_ADMIN_KEY, else the gateway's ADMIN_API_KEY,
 * else the key the first start left in DATA_DIR/admin-api-key. Never a command-line option (the
 * process list shows arguments to every user of the machine).
 */
export const simulationKey = (env: Record<string, string | undefined>, dataDir: string) => {
  const fromEnv = env.FLEETGATE_ADMIN_KEY?.trim() || env.ADMIN_API_KEY?.trim();
  if (fromEnv) return fromEnv;
  const file = firstStartKeyPath(dataDir);
  try {
    const key = readFileSync(file, 'utf8').trim();
    if (key) return key;
  } catch {
    // Below: the same message for a missing and an empty file.
  }
  throw new SimulateUsageError(
    `no admin key: set FLEETGATE_ADMIN_KEY (a key with the devices, records and sms scopes), or run where ${file} is (the gateway's first start writes it)`,
  );
};

/** Defaults point at the gateway `npm start` runs on this machine (its ports from the same configuration). */
export const simulateOptions = (
  args: SimulateArgs,
  config: Config,
  env: Record<string, string | undefined>,
): Omit<SimulateOptions, 'out' | 'signal'> => {
  const devices = number('devices', args.devices, 30, 1, 100_000, true);
  const mix = (args.mix ?? PROTOCOLS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = mix.filter((m) => !isProtocol(m));
  if (bad.length || mix.length === 0) throw new SimulateUsageError(`--mix "${args.mix}": a list of ${PROTOCOLS.join(', ')}`);
  const host = args.host ?? '127.0.0.1';
  const prefix = args.prefix ?? 'sim';
  if (!/^[A-Za-z0-9_-]{1,24}$/.test(prefix)) throw new SimulateUsageError(`--prefix "${prefix}": 1–24 of A-Z a-z 0-9 _ -`);
  const offlineShare = number('offline-share', args['offline-share'], 0.1, 0, 0.9);
  return {
    devices,
    rate: number('rate', args.rate, devices, 0.01, 1_000_000),
    mix: [...new Set(mix)] as Protocol[],
    seed: number('seed', args.seed, 1, 0, 2 ** 32 - 1, true),
    durationS: args.duration === undefined ? undefined : number('duration', args.duration, 0, 1, 7 * 86_400),
    apiUrl: (args.url ?? `http://${host}:${config.http.port}`).replace(/\/+$/, ''),
    mqttUrl: args.mqtt ?? `mqtt://${host}:${config.mqtt.port}`,
    osmandUrl: args.osmand ?? `http://${host}:${config.osmand.port}/`,
    key: simulationKey(env, config.dataDir),
    prefix,
    offlineShare,
    offlineForS: number('offline-for', args['offline-for'], 20, 1, 3_600),
    crmEveryS: number('crm-every', args['crm-every'], 5, 0, 3_600),
  };
};

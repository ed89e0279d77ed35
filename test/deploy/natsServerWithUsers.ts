/**
 * A private nats-server running deploy/nats/users.conf as shipped: the node configuration's
 * client part (listen, JetStream, the included users) without the cluster, on a free port, with
 * random passwords in the environment the file reads them from.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/natsServer.js';
import { type NatsProcess, spawnNats } from './natsProcess.js';

export const ROLE_USERS = ['ingest', 'api', 'projections', 'handlers', 'admin', 'operator'] as const;
export type RoleUser = (typeof ROLE_USERS)[number];

export const USERS_CONF = new URL('../../deploy/nats/users.conf', import.meta.url);

export interface NatsWithUsers {
  nats: NatsProcess;
  url: string;
  user(role: RoleUser): { user: string; pass: string };
  close(): Promise<void>;
}

export const startNatsWithUsers = async (): Promise<NatsWithUsers> => {
  const dir = await mkdtemp(join(tmpdir(), 'fg-nats-users-'));
  const port = await freePort();
  await copyFile(USERS_CONF, join(dir, 'users.conf'));
  await writeFile(
    join(dir, 'nats.conf'),
    `listen: 127.0.0.1:${port}\njetstream { store_dir: "${join(dir, 'js')}" }\ninclude users.conf\n`,
  );
  // nats-server parses a variable's value as a config value: "3e5…" would be a number, so start with a letter.
  const passwords = Object.fromEntries(ROLE_USERS.map((r) => [r, `k${randomBytes(12).toString('hex')}`])) as Record<
    RoleUser,
    string
  >;
  const env = Object.fromEntries(ROLE_USERS.map((r) => [`FLEETGATE_NATS_${r.toUpperCase()}_PASSWORD`, passwords[r]]));
  const nats = await spawnNats(port, ['-c', join(dir, 'nats.conf')], env).catch(async (e) => {
    await rm(dir, { recursive: true, force: true });
    throw e;
  });
  return {
    nats,
    url: nats.url,
    user: (role) => ({ user: `fleetgate_${role}`, pass: passwords[role] }),
    close: async () => {
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

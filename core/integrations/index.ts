import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { embeddedKeyFile, isKeyRing, type KeyRing, keyRing, parseKeyRing } from '../secrets/keyRing.js';
import type { Sql } from '../stores/postgres.js';
import { type IntegrationSettings, integrationSettings } from './settings.js';
import { type SecretVault, secretVault } from './vault.js';

/**
 * The key ring as configured: SECRETS_KEYS; else, embedded, the key file in DATA_DIR (generated
 * once, and start-up says so); else none, and storing a credential is refused.
 */
export const loadKeyRing = async (config: Config, logger: Logger): Promise<KeyRing> => {
  if (config.secrets.keys) {
    const ring = parseKeyRing(config.secrets.keys, config.secrets.activeKeyId);
    // loadConfig checked it already; this narrows the type.
    if (!isKeyRing(ring)) throw new Error(ring.problems.join('; '));
    return ring;
  }
  if (config.secrets.keyFile) {
    const { ring, created } = await embeddedKeyFile(config.secrets.keyFile);
    if (created) {
      logger.warn(
        { keyFile: config.secrets.keyFile },
        'generated the key that encrypts stored integration credentials: back this file up apart from the data (a backup holding both is a backup of the credentials); without it they cannot be read',
      );
    }
    return ring;
  }
  logger.info('SECRETS_KEYS is not set: integration credentials can come only from the environment');
  return keyRing(new Map(), undefined);
};

export interface Integrations {
  settings: IntegrationSettings;
  vault: SecretVault;
}

/** How often the settings are re-read on PGlite, where no other process can change them (250 ms elsewhere). */
export const PGLITE_SETTINGS_POLL_MS = 5_000;

/** The process's integration settings: key ring, vault and the live settings (fails start-up on a missing key id). */
export const openIntegrations = async (
  config: Config,
  sql: Sql,
  logger: Logger,
  opts: { pollMs?: number } = {},
): Promise<Integrations> => {
  const vault = secretVault(sql, await loadKeyRing(config, logger));
  const settings = await integrationSettings({ sql, vault, env: config.integrationEnv, logger, ...opts });
  return { settings, vault };
};

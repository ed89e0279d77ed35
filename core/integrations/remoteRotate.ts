import { readFile } from 'node:fs/promises';
import type { Config } from '../config.js';
import { firstStartKeyPath } from '../paths.js';

/** Where a running gateway is reached from this machine: a wildcard listen address is reached on loopback. */
const localUrl = (config: Config) => {
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
};

/**
 * `fleetgate secrets rotate` in the embedded mode while the gateway runs: the gateway holds
 * DATA_DIR (PGlite has one writer), so the CLI asks it to rotate through
 * `POST /api/v1/secrets/rotate`, with an admin key from FLEETGATE_ADMIN_KEY or the first start's
 * `DATA_DIR/admin-api-key`. The key is sent, never printed.
 */
export const rotateThroughGateway = async (
  config: Config,
  env: Record<string, string | undefined>,
  out: (line: string) => void,
): Promise<void> => {
  const key =
    env.FLEETGATE_ADMIN_KEY?.trim() ||
    (await readFile(firstStartKeyPath(config.dataDir), 'utf8').then(
      (t) => t.trim(),
      () => '',
    ));
  if (!key) {
    throw new Error(
      'the gateway running on this DATA_DIR must do the rotation: set FLEETGATE_ADMIN_KEY to an admin API key (or stop the gateway and run this again)',
    );
  }
  const url = `${localUrl(config)}/api/v1/secrets/rotate`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(60_000),
  });
  const body = (await res.json().catch(() => ({}))) as { keyId?: string; reencrypted?: number; detail?: string };
  if (!res.ok) throw new Error(`the running gateway refused the rotation (${url}: ${res.status} ${body.detail ?? ''})`.trim());
  out(
    `re-encrypted ${body.reencrypted} value(s) under key "${body.keyId}" (by the running gateway); once every gateway runs with it, older keys can leave SECRETS_KEYS`,
  );
};

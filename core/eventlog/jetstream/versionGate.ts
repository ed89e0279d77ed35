import { GatewayError } from '../../../schemas/errors.js';

/** `2.9.10`, `v2.12.1`, `2.11.0-RC.3` → [2, 9, 10]; undefined when it is none of these. */
export const parseServerVersion = (version: string): [number, number, number] | undefined => {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
};

const older = (a: readonly number[], b: readonly number[]) => {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
};

export type VersionVerdict =
  | { ok: true; version: string }
  /** Below the minimum, yet NATS_ALLOW_OLD_SERVER: start, and say so. */
  | { ok: true; version: string; warning: string }
  | { ok: false; version: string; reason: string };

/**
 * Whether the gateway may run on a nats-server of `version` (from the server's INFO). A
 * pre-release of the minimum (2.11.0-RC.1) counts as the minimum: the fixes a minimum stands for
 * are in its release candidates. An unreadable version is refused like an old one.
 */
export const judgeServerVersion = (
  version: string | undefined,
  opts: { minVersion: string; allowOld: boolean },
): VersionVerdict => {
  const shown = version ?? '(none in the server INFO)';
  const have = version ? parseServerVersion(version) : undefined;
  const min = parseServerVersion(opts.minVersion);
  if (!min) throw new GatewayError('GW_ERR_CONFIG', `NATS_MIN_VERSION ${opts.minVersion} is not MAJOR.MINOR.PATCH`);
  if (have && !older(have, min)) return { ok: true, version: shown };
  const why = `nats-server ${shown} is older than NATS_MIN_VERSION ${opts.minVersion}`;
  if (opts.allowOld) return { ok: true, version: shown, warning: `${why}; running anyway (NATS_ALLOW_OLD_SERVER=true)` };
  return {
    ok: false,
    version: shown,
    reason: `${why}: upgrade the server (deploy/ pins a current release), or set NATS_ALLOW_OLD_SERVER=true to run on it anyway`,
  };
};

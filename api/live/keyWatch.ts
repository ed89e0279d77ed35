import type { Logger } from '../../core/logger.js';
import type { Sql } from '../../core/stores/postgres.js';

/** What the watch needs of a socket: a way to end it. */
interface Closable {
  end(code?: number, reason?: string): void;
}

/** Close code for a socket whose API key was revoked (private range, as the driver socket's 4401). */
export const KEY_REVOKED_CLOSE = 4401;

/** Within the API key cache's 10 s (api/auth.ts): revocation ends a live socket no later than a request. */
export const KEY_RECHECK_MS = 5_000;

/**
 * Open live sockets per API key, and a re-check of those keys every `intervalMs`: a key revoked
 * (or deleted) in any process ends its sockets, which would otherwise stream every vehicle for as
 * long as they stay open (issue 23). One query per interval for all keys, none when nobody is
 * connected; it reads Postgres, not the per-process key cache, so another process's revocation
 * counts as soon as it is committed.
 */
export const liveKeyWatch = <S extends Closable>(opts: { sql: Sql; logger: Logger; intervalMs?: number }) => {
  const byKey = new Map<string, Set<S>>();
  let checking = false;
  const recheck = async () => {
    if (byKey.size === 0 || checking) return;
    checking = true;
    try {
      const ids = [...byKey.keys()];
      const live = await opts.sql<{ id: string }[]>`
        SELECT id::text AS id FROM api_keys WHERE id = ANY(${ids}::uuid[]) AND revoked_at IS NULL`;
      const valid = new Set(live.map((r) => r.id));
      for (const id of ids) {
        if (valid.has(id)) continue;
        const sockets = byKey.get(id);
        byKey.delete(id);
        for (const ws of sockets ?? []) ws.end(KEY_REVOKED_CLOSE, 'API key revoked');
        opts.logger.info({ keyId: id, closed: sockets?.size ?? 0 }, 'live sockets closed: API key revoked');
      }
    } catch (err) {
      // Postgres unreachable: keep the sockets (the feed itself does not need it) and try again.
      opts.logger.warn({ err }, 'live key re-check failed');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void recheck(), opts.intervalMs ?? KEY_RECHECK_MS);
  timer.unref();
  return {
    track(keyId: string, ws: S) {
      const set = byKey.get(keyId) ?? new Set<S>();
      set.add(ws);
      byKey.set(keyId, set);
    },
    untrack(keyId: string, ws: S) {
      const set = byKey.get(keyId);
      if (!set) return;
      set.delete(ws);
      if (set.size === 0) byKey.delete(keyId);
    },
    close() {
      clearInterval(timer);
    },
  };
};

import { createHash } from 'node:crypto';
import type { Sql } from '../core/stores/postgres.js';
import { HttpProblem } from './problemDetails.js';

/** The first answer to a key, replayed for a repeat of the same request. */
export interface StoredReply {
  status: number;
  body: unknown;
}

export type IdempotencyOutcome = { kind: 'new' } | { kind: 'replay'; reply: StoredReply };

/**
 * `Idempotency-Key` in Postgres, shared by every gateway process and kept across restarts. The
 * first request reserves the key (a row without a reply); a repeat with the same body replays the
 * stored reply, a repeat with another body is a 422, a repeat while the first is still running a
 * 409. A reservation left by a crashed process is taken over after `staleMs`: the command's event id
 * derives from the key, so redoing it cannot append a second event.
 */
export const idempotencyStore = (sql: Sql, opts: { ttlMs: number; staleMs?: number }) => {
  const staleMs = opts.staleMs ?? 30_000;

  const begin = async (keyId: string, key: string, requestHash: Buffer): Promise<IdempotencyOutcome> => {
    await sql`DELETE FROM idempotency_keys
              WHERE api_key_id = ${keyId} AND key = ${key}
                AND (created_at < now() - make_interval(secs => ${opts.ttlMs / 1000})
                     OR (status IS NULL AND created_at < now() - make_interval(secs => ${staleMs / 1000})))`;
    const inserted = await sql`INSERT INTO idempotency_keys (api_key_id, key, request_hash)
                               VALUES (${keyId}, ${key}, ${requestHash}) ON CONFLICT DO NOTHING RETURNING 1`;
    if (inserted.count === 1) return { kind: 'new' };
    const [row] = await sql<{ request_hash: Buffer; status: number | null; response: unknown }[]>`
      SELECT request_hash, status, response FROM idempotency_keys WHERE api_key_id = ${keyId} AND key = ${key}`;
    if (!row) return begin(keyId, key, requestHash); // expired between the two statements
    if (!row.request_hash.equals(requestHash)) {
      throw new HttpProblem('GW_ERR_IDEMPOTENCY_MISMATCH', 'this Idempotency-Key was already used with a different request');
    }
    if (row.status === null) {
      throw new HttpProblem('GW_ERR_IDEMPOTENCY_IN_PROGRESS', 'the first request with this Idempotency-Key is still running', {
        headers: { 'retry-after': '1' },
      });
    }
    return { kind: 'replay', reply: { status: row.status, body: row.response } };
  };

  const complete = async (keyId: string, key: string, reply: StoredReply) => {
    await sql`UPDATE idempotency_keys SET status = ${reply.status}, response = ${sql.json(reply.body as never)}
              WHERE api_key_id = ${keyId} AND key = ${key}`;
  };

  /** The first attempt failed on our side (5xx): the client may retry with the same key. */
  const release = async (keyId: string, key: string) => {
    await sql`DELETE FROM idempotency_keys WHERE api_key_id = ${keyId} AND key = ${key} AND status IS NULL`;
  };

  const purgeExpired = async () =>
    (await sql`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => ${opts.ttlMs / 1000})`).count;

  return { begin, complete, release, purgeExpired };
};
export type IdempotencyStore = ReturnType<typeof idempotencyStore>;

/** What makes two requests "the same": method, route path, query and body bytes. */
export const requestFingerprint = (method: string, path: string, rawQuery: string, body: Buffer): Buffer =>
  createHash('sha256').update(`${method} ${path}?${rawQuery}\n`).update(body).digest();

export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

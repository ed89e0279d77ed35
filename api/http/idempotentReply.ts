import { IDEMPOTENCY_KEY_RE, type IdempotencyStore, requestFingerprint } from '../idempotency.js';
import { HttpProblem } from '../problemDetails.js';
import type { ApiPrincipal, Method, Reply, RequestContext } from '../route.js';
import type { RequestSnapshot } from './requestSnapshot.js';

/**
 * Runs `handle` once per (API key, `Idempotency-Key`): a repeat gets the stored reply, marked
 * `Idempotent-Replayed`; a failure releases the key so the client may retry.
 */
export const idempotentReply = async (
  store: IdempotencyStore,
  principal: ApiPrincipal,
  idemKey: string,
  request: { method: Method; snap: RequestSnapshot; rawBody: Buffer; ctx: RequestContext },
  handle: () => Promise<Reply>,
): Promise<Reply> => {
  if (!IDEMPOTENCY_KEY_RE.test(idemKey)) {
    throw new HttpProblem('GW_ERR_VALIDATION', 'Idempotency-Key must be 1-255 visible ASCII characters', {
      errors: [{ pointer: '', field: 'Idempotency-Key (header)', detail: 'must be 1-255 visible ASCII characters' }],
    });
  }
  const { method, snap, rawBody, ctx } = request;
  const fingerprint = requestFingerprint(method, snap.path, snap.rawQuery, rawBody);
  const begun = await store.begin(principal.keyId, idemKey, fingerprint);
  if (begun.kind === 'replay') {
    return { status: begun.reply.status, body: begun.reply.body, headers: { 'idempotent-replayed': 'true' } };
  }
  let reply: Reply;
  try {
    reply = await handle();
  } catch (e) {
    await store.release(principal.keyId, idemKey).catch((err) => ctx.logger.error({ err }, 'idempotency release failed'));
    throw e;
  }
  await store.complete(principal.keyId, idemKey, { status: reply.status, body: reply.body ?? null });
  return reply;
};

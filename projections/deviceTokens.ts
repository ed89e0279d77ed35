import { type FoldProjection, readsDomains } from '../core/runners/projectionRunner.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { PUSH_TOKENS_SUBJECT, type PushEvent, pushEvents } from '../schemas/events/push.js';

/**
 * `device_tokens`: one row per FCM token with its owner and whether pushes may use it. A token
 * registered again (after a revocation, or by another user on the same device) becomes the new
 * owner's and active. A revocation naming a user only applies while that user owns the token, so a
 * late logout of a previous owner does not cut off the new one.
 */
export const deviceTokensProjection: FoldProjection<PushEvent> = {
  kind: 'fold',
  name: 'device_tokens',
  stream: 'EVENTS',
  filterSubject: PUSH_TOKENS_SUBJECT,
  reads: readsDomains(pushEvents),
  async apply(tx, events) {
    for (const e of events) {
      switch (e.type) {
        case 'push.token_registered': {
          const d = e.data;
          await tx`
          INSERT INTO device_tokens (token, user_id, platform, active, created_at, updated_at, last_seq)
          VALUES (${d.token}, ${d.userId}, ${d.platform}, true, ${e.time}, ${e.time}, ${e.seq})
          ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, platform = excluded.platform, active = true,
            revoked_reason = NULL, revoked_at = NULL, updated_at = excluded.updated_at, last_seq = excluded.last_seq`;
          break;
        }
        case 'push.token_revoked': {
          const d = e.data;
          await tx`
          UPDATE device_tokens SET active = false, revoked_reason = ${d.reason ?? `revoked by ${d.requestedBy}`},
            revoked_at = ${e.time}, updated_at = ${e.time}, last_seq = ${e.seq}
          WHERE token = ${d.token} AND active AND (${d.userId ?? null}::text IS NULL OR user_id = ${d.userId ?? null})`;
          break;
        }
        // Push commands and their outcomes are `push_notification_log`'s (not on this subject anyway).
        case 'push.requested':
        case 'push.sent':
        case 'push.partially_sent':
        case 'push.failed':
        case 'push.attempt_failed':
          break;
        default:
          unhandledEvent(e);
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE device_tokens`;
  },
};

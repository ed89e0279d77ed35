import { type FoldProjection, readsDomains } from '../core/runners/projectionRunner.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type TelegramEvent, telegramEvents } from '../schemas/events/telegram.js';

/**
 * `telegram_users` (who each chat is: CRM user, role, scope, language, blocked) and
 * `telegram_link_codes` (digests of the one-time codes, and which chat used each), from
 * `evt.telegram.>`.
 */
export const telegramUsersProjection: FoldProjection<TelegramEvent> = {
  kind: 'fold',
  name: 'telegram_users',
  stream: 'EVENTS',
  filterSubject: 'evt.telegram.>',
  reads: readsDomains(telegramEvents),
  async apply(tx, events) {
    for (const e of events) {
      switch (e.type) {
        case 'telegram.link_code_requested': {
          const d = e.data;
          // Commands from before issue 16 carried no code.
          if (!d.codeSha256 || !d.expiresAt) break;
          await tx`
            INSERT INTO telegram_link_codes (code_sha256, user_id, role, company_id, driver_id, expires_at, created_at, last_seq)
            VALUES (${d.codeSha256}, ${d.userId}, ${d.role}, ${d.companyId ?? null}, ${d.driverId ?? null}, ${d.expiresAt}, ${e.time}, ${e.seq})
            ON CONFLICT (code_sha256) DO NOTHING`;
          break;
        }
        case 'telegram.linked': {
          const d = e.data;
          await tx`
            UPDATE telegram_link_codes SET used_at = coalesce(used_at, ${e.time}), used_by_chat = coalesce(used_by_chat, ${d.chatId}),
              last_seq = ${e.seq}
            WHERE code_sha256 = ${d.codeSha256}`;
          const row = {
            chat_id: d.chatId,
            user_id: d.userId,
            role: d.role,
            company_id: d.companyId ?? null,
            driver_id: d.driverId ?? null,
            username: d.username ?? null,
            first_name: d.firstName ?? null,
            language: d.language ?? null,
            linked_at: e.time,
            unlinked_at: null,
            blocked_at: null,
            created_at: e.time,
            updated_at: e.time,
            last_seq: e.seq,
          };
          await tx`
            INSERT INTO telegram_users ${tx(row)}
            ON CONFLICT (chat_id) DO UPDATE SET user_id = EXCLUDED.user_id, role = EXCLUDED.role,
              company_id = EXCLUDED.company_id, driver_id = EXCLUDED.driver_id, username = EXCLUDED.username,
              first_name = EXCLUDED.first_name, language = EXCLUDED.language, linked_at = EXCLUDED.linked_at,
              unlinked_at = NULL, blocked_at = NULL, updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq`;
          break;
        }
        case 'telegram.unlinked':
          // The row stays (history of the chat); no user means no data and no messages by userId.
          await tx`
            UPDATE telegram_users SET user_id = NULL, role = NULL, company_id = NULL, driver_id = NULL, linked_at = NULL,
              unlinked_at = ${e.time}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE chat_id = ${e.data.chatId}`;
          break;
        case 'telegram.chat_blocked':
          await tx`
            UPDATE telegram_users SET blocked_at = ${e.time}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE chat_id = ${e.data.chatId}`;
          break;
        case 'telegram.alert_subscription_changed':
          await tx`
            UPDATE telegram_users SET
              preferences = jsonb_set('{"alerts": {}}'::jsonb || preferences, ARRAY['alerts', ${e.data.kind}], to_jsonb(${e.data.subscribed}::boolean)),
              updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE chat_id = ${e.data.chatId}`;
          break;
        // Messages and their outcomes are notification_queue's.
        case 'telegram.requested':
        case 'telegram.sent':
        case 'telegram.failed':
        case 'telegram.attempt_failed':
          break;
        default:
          unhandledEvent(e);
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE telegram_users, telegram_link_codes`;
  },
};

import { findSmsLog, findSmsLogByProviderMessageId } from '../../core/readModels/smsLog.js';
import { SendSmsRequest } from '../../schemas/http/sms.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import type { RouteSpec } from '../route.js';
import { isUuid } from '../routes/rules.js';
import { requestSms, smsBalance } from '../routes/sms.js';
import { validate } from '../validation.js';
import { asLegacy, compact, fail, type LegacyAction, legacyRoute, missing, ok, text } from './common.js';

/**
 * A phone number as the PHP layer took it (it stripped everything but digits and let SMS.ru read
 * them) in E.164: separators go, `00` is `+`, a Russian trunk `8` + 10 digits is `+7`, and bare
 * digits already carry their country code. Anything else is left as it came, for the schema to refuse.
 */
export const normalisePhone = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  const s = v.trim().replace(/[\s\-().]/g, '');
  if (/^00\d+$/.test(s)) return `+${s.slice(2)}`;
  if (/^8\d{10}$/.test(s)) return `+7${s.slice(1)}`;
  if (/^\d+$/.test(s)) return `+${s}`;
  return s;
};

/** sms_log's states in the words the PHP status action used (SMS.ru's: pending, sent, delivered, failed). */
const OLD_STATUS: Readonly<Record<string, string>> = {
  queued: 'pending',
  sending: 'pending',
  sent: 'sent',
  delivered: 'delivered',
  failed: 'failed',
  refused: 'failed',
  undelivered: 'failed',
};

/** `/api/sms.php` (POST, as the PHP script took it): `action=send|status|balance`. */
export const smsPhp = (deps: ApiDeps): RouteSpec[] => {
  const send: LegacyAction = async ({ ctx, body, via }) => {
    const req = compact({
      to: normalisePhone(text(body.phone)),
      text: text(body.message),
      priority: text(body.priority),
      provider: text(body.provider),
    });
    const { id, status } = await asLegacy({ to: 'phone', text: 'message' }, () =>
      requestSms(deps, ctx, validate<SendSmsRequest>(SendSmsRequest, req, 'body'), via),
    );
    return ok({ message: 'SMS queued', message_id: id, id, status });
  };

  // The PHP script asked the provider by its message id; the id `send` answers (ours) works too.
  const status: LegacyAction = async ({ body, query }) => {
    const ref = text(query.id ?? query.message_id ?? body.id ?? body.message_id);
    if (typeof ref !== 'string') throw missing('id', 'give id (or message_id) of the SMS');
    const row = isUuid(ref) ? await findSmsLog(deps.sql, ref) : await findSmsLogByProviderMessageId(deps.sql, ref);
    if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no SMS ${ref}`);
    return ok({
      id: row.id,
      message_id: row.provider_message_id ?? row.id,
      status: OLD_STATUS[row.status] ?? row.status,
      state: row.status,
      ...(row.error_message === null ? {} : { error_message: row.error_message }),
    });
  };

  // The PHP script answered the provider's balance in roubles (or dollars) as a decimal number.
  const balance: LegacyAction = async () => {
    try {
      const b = await smsBalance(deps);
      return ok({ balance: b.amountMinor / 100, currency: b.currency, provider: b.provider, test_mode: b.testMode });
    } catch (e) {
      if (e instanceof HttpProblem) return fail(e.status, e.detail ?? e.message);
      throw e;
    }
  };

  return [
    legacyRoute({
      method: 'POST',
      path: '/api/sms.php',
      scope: 'sms',
      summary: 'Legacy SMS endpoint of the PHP CRM',
      actions: { send, status, balance },
    }),
  ];
};

import { SendEmailRequest } from '../../schemas/http/email.js';
import type { ApiDeps } from '../deps.js';
import type { RouteSpec } from '../route.js';
import { requestEmail } from '../routes/email.js';
import { validate } from '../validation.js';
import {
  asLegacy,
  compact,
  fail,
  flag,
  type LegacyAction,
  type LegacyBody,
  legacyRoute,
  missing,
  ok,
  present,
  text,
} from './common.js';

/** The old `body` is v1's `html` (or `text` with `is_html: false`). */
const NAMES = { html: 'body', text: 'body' };

/** `{ to, subject, body, is_html?, template?, data? }` → the v1 body. */
const toV1 = (b: LegacyBody) => {
  // v1 has one recipient; dropping cc silently would lose mail, so it is refused.
  if (text(b.cc) !== undefined) throw missing('cc', 'cc is not supported here: send one request per recipient');
  const isHtml = flag(b.is_html) ?? true;
  const content = text(b.body);
  return compact({
    to: text(b.to),
    subject: text(b.subject),
    template: text(b.template),
    data: present(b.data),
    html: text(b.html) ?? (isHtml ? content : undefined),
    text: text(b.text) ?? (isHtml ? undefined : content),
    priority: text(b.priority),
  });
};

/** `/api/email.php` (POST): `action=send|send_template`. */
export const emailPhp = (deps: ApiDeps): RouteSpec[] => {
  const sendV1: LegacyAction = async ({ ctx, body, via }) => {
    const req = toV1(body);
    const { id, status } = await asLegacy(NAMES, () =>
      requestEmail(deps, ctx, validate<SendEmailRequest>(SendEmailRequest, req, 'body'), via),
    );
    if (status === 'failed') return fail(502, 'Email could not be sent', { id, status });
    return ok({ message: status === 'sent' ? 'Email sent' : 'Email queued', id, status });
  };
  const sendTemplate: LegacyAction = async (r) => {
    if (text(r.body.template) === undefined) throw missing('template', 'required for send_template');
    return sendV1(r);
  };
  return [
    legacyRoute({
      method: 'POST',
      path: '/api/email.php',
      scope: 'email',
      summary: 'Legacy e-mail endpoint of the PHP CRM',
      actions: { send: sendV1, send_template: sendTemplate },
    }),
  ];
};

import { type EmailLogRow, findEmailLog, findEmailLogStatus } from '../../core/readModels/emailLog.js';
import { EMAIL_TEMPLATE_NAMES, EMAIL_TEMPLATES, isEmailTemplate } from '../../schemas/emailTemplates.js';
import { EMAIL_ATTACHMENTS_MAX_BYTES, EMAIL_REQUESTED, type EmailRequested } from '../../schemas/events/email.js';
import { EmailStatus, SendEmailRequest } from '../../schemas/http/email.js';
import type { FieldError } from '../../schemas/http/problem.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';
import { fieldErrors, invalidFields } from '../validation.js';
import { ACCEPTED, isUuid } from './rules.js';

/** Base64 grows data by 4/3; a megabyte on top for the JSON around it. */
const EMAIL_BODY_MAX_BYTES = Math.ceil((EMAIL_ATTACHMENTS_MAX_BYTES * 4) / 3) + 1_048_576;

/** Decoded size from the length alone, for padded base64 (the schema holds the alphabet). */
const decodedBytes = (b64: string) => (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);

/** What the schema cannot say: some content to send, and the attachments' decoded total. */
const checkEmail = (req: SendEmailRequest) => {
  const errors: FieldError[] = [];
  if (req.template === undefined) {
    if (req.subject === undefined)
      errors.push({ pointer: '/subject', field: 'subject', detail: 'required unless a template is given' });
    if (req.html === undefined && req.text === undefined)
      errors.push({ pointer: '/html', field: 'html', detail: 'give html or text, or a template' });
  } else if (!isEmailTemplate(req.template)) {
    errors.push({
      pointer: '/template',
      field: 'template',
      detail: `no such template; there are ${EMAIL_TEMPLATE_NAMES.join(', ')}`,
    });
  } else {
    for (const field of ['html', 'text'] as const) {
      if (req[field] !== undefined)
        errors.push({ pointer: `/${field}`, field, detail: 'give a template or html/text, not both' });
    }
    // The handler checks again; refusing here tells the caller now instead of in email_log.
    for (const e of fieldErrors(EMAIL_TEMPLATES[req.template], req.data ?? {})) {
      const pointer = `/data${e.pointer}`;
      errors.push({ ...e, pointer, field: e.field === '(body)' ? 'data' : `data.${e.field}` });
    }
  }
  const attachments = req.attachments ?? [];
  attachments.forEach((a, i) => {
    if (a.contentBase64.length % 4 !== 0) {
      const field = `attachments.${i}.contentBase64`;
      errors.push({ pointer: `/${field.replaceAll('.', '/')}`, field, detail: 'base64 padded to a multiple of 4 characters' });
    }
  });
  const total = attachments.reduce((n, a) => n + decodedBytes(a.contentBase64), 0);
  if (total > EMAIL_ATTACHMENTS_MAX_BYTES) {
    errors.push({
      pointer: '/attachments',
      field: 'attachments',
      detail: `the attachments add up to ${total} bytes decoded; at most ${EMAIL_ATTACHMENTS_MAX_BYTES} are accepted`,
    });
  }
  if (errors.length > 0) throw invalidFields(errors);
};

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const toStatus = (r: EmailLogRow): EmailStatus => ({
  id: r.id,
  status: r.status,
  to: r.recipient,
  subject: r.subject,
  template: r.template,
  locale: r.locale,
  priority: r.priority,
  messageId: r.provider_message_id,
  response: r.smtp_response,
  accepted: r.accepted,
  rejected: r.rejected,
  attachments: r.attachment_files,
  error: r.error_code === null && r.error_message === null ? null : { code: r.error_code, message: r.error_message },
  attempts: r.attempts,
  nextAttemptAt: iso(r.next_attempt_at),
  testMode: r.test_mode,
  createdAt: r.created_at.toISOString(),
  sentAt: iso(r.sent_at),
  history: r.history,
});

/** The v1 e-mail command, shared with the legacy route so both append the same event. */
export const requestEmail = async (
  deps: ApiDeps,
  caller: CommandCaller,
  req: SendEmailRequest,
  via: string,
): Promise<{ id: string; status: 'queued' | 'sent' | 'failed' }> => {
  checkEmail(req);
  const priority = req.priority ?? 'normal';
  const data: Omit<EmailRequested, 'requestedBy' | 'via'> = { ...req, priority };
  const accepted = await issueCommand(deps.log, caller, { domain: 'email', type: EMAIL_REQUESTED, priority, data }, via);
  const { mail } = deps.config;
  if (mail.queueEnabled) return accepted;
  return { id: accepted.id, status: await settledStatus(deps, accepted.id, mail.smtp.timeoutMs) };
};

/**
 * MAIL_QUEUE_ENABLED=false: the CRM sent without its queue and answered with the outcome, so the
 * request waits until `email_log` shows one. The handler still does the sending (it is the only
 * part that calls providers); after `timeoutMs` the answer is `queued` and the e-mail goes on.
 */
const settledStatus = async (deps: ApiDeps, id: string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await findEmailLogStatus(deps.sql, id);
    if (status === 'sent' || status === 'failed') return status;
    await new Promise((r) => setTimeout(r, 50));
  }
  return 'queued' as const;
};

export const emailRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/email',
    operationId: 'sendEmail',
    summary: 'Send an e-mail',
    description:
      'Appends `email.requested`; a handler renders the template (if any) and sends it over SMTP. ' +
      'With MAIL_QUEUE_ENABLED=false the answer waits for the outcome (`sent` or `failed`, up to ' +
      'MAIL_TIMEOUT_SECONDS) and the e-mail is tried once.',
    tags: ['email'],
    auth: { scope: 'email' },
    body: SendEmailRequest,
    maxBodyBytes: Math.max(deps.config.api.maxBodyBytes, EMAIL_BODY_MAX_BYTES),
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestEmail(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/email/{id}',
    operationId: 'getEmail',
    summary: 'An e-mail with its status and history',
    tags: ['email'],
    auth: { scope: 'email' },
    responses: { 200: { description: 'the e-mail', schema: EmailStatus } },
    handle: async (ctx) => {
      const id = ctx.params.id as string;
      if (!isUuid(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no e-mail ${id}`);
      const row = await findEmailLog(deps.sql, id);
      if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no e-mail ${id}`);
      return { status: 200, body: toStatus(row) };
    },
  }),
];

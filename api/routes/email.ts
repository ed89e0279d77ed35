import { EMAIL_ATTACHMENTS_MAX_BYTES, EMAIL_REQUESTED, type EmailRequested } from '../../schemas/events/email.js';
import { SendEmailRequest } from '../../schemas/http/email.js';
import type { FieldError } from '../../schemas/http/problem.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute } from '../route.js';
import { invalidFields } from '../validation.js';
import { ACCEPTED } from './rules.js';

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

/** The v1 e-mail command, shared with the legacy route so both append the same event. */
export const requestEmail = (deps: ApiDeps, caller: CommandCaller, req: SendEmailRequest, via: string) => {
  checkEmail(req);
  const priority = req.priority ?? 'normal';
  const data: Omit<EmailRequested, 'requestedBy' | 'via'> = { ...req, priority };
  return issueCommand(deps.log, caller, { domain: 'email', type: EMAIL_REQUESTED, priority, data }, via);
};

export const emailRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/email',
    operationId: 'sendEmail',
    summary: 'Send an e-mail',
    description: 'Appends `email.requested`; a handler renders the template (if any) and sends it over SMTP.',
    tags: ['email'],
    auth: { scope: 'email' },
    body: SendEmailRequest,
    maxBodyBytes: Math.max(deps.config.api.maxBodyBytes, EMAIL_BODY_MAX_BYTES),
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestEmail(deps, ctx, ctx.body, 'v1') }),
  }),
];

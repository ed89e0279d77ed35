import { type Static, Type } from '@sinclair/typebox';
import { EMAIL_ATTACHMENTS_MAX_BYTES, emailFields } from '../events/email.js';
import { Priority } from '../events/envelope.js';

export const SendEmailRequest = Type.Object(
  { ...emailFields, priority: Type.Optional(Priority) },
  {
    additionalProperties: false,
    $id: 'SendEmailRequest',
    description:
      'Either a `template` (rendered with `data`), or a `subject` with `html` and/or `text`. ' +
      `Attachments may add up to ${EMAIL_ATTACHMENTS_MAX_BYTES / 1_048_576} MB decoded.`,
  },
);
export type SendEmailRequest = Static<typeof SendEmailRequest>;

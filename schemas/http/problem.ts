import { type Static, Type } from '@sinclair/typebox';

/** One refused field of a request: a JSON Pointer into the body (RFC 6901) and what was wrong. */
export const FieldError = Type.Object({
  pointer: Type.String({ description: 'JSON Pointer to the field, e.g. "/to"' }),
  field: Type.String({ description: 'the field path in dotted form, e.g. "to" or "attachments.0.filename"' }),
  detail: Type.String(),
});
export type FieldError = Static<typeof FieldError>;

/** RFC 9457 problem details, with `code` (a stable error code) and field errors for validation. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: 'a URI naming the problem type' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    code: Type.String({ description: 'stable error code, e.g. GW_ERR_VALIDATION' }),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(FieldError)),
  },
  { $id: 'Problem' },
);
export type Problem = Static<typeof Problem>;

/** The answer to a command: the id of the `*.requested` event and the command's state. */
export const CommandAccepted = Type.Object({
  id: Type.String({ description: 'the command id (its event id)' }),
  status: Type.String({ description: 'queued until a handler picks it up' }),
});
export type CommandAccepted = Static<typeof CommandAccepted>;

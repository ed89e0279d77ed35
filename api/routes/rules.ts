import { CommandAccepted } from '../../schemas/http/problem.js';
import type { ResponseSpec } from '../route.js';
import { invalidFields } from '../validation.js';

/** What every command route answers. */
export const ACCEPTED: Readonly<Record<number, ResponseSpec>> = {
  202: { description: 'queued: the event log holds the command; a handler carries it out', schema: CommandAccepted },
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

/**
 * Refuses a body with both or neither of two alternatives. A schema union would report only
 * "no branch matched" on the whole body; this names the field.
 */
export const exactlyOne = (body: object, a: string, b: string) => {
  const has = (k: string) => (body as Record<string, unknown>)[k] !== undefined;
  if (has(a) && has(b)) throw invalidFields([{ pointer: `/${b}`, field: b, detail: `give ${a} or ${b}, not both` }]);
  if (!has(a) && !has(b)) throw invalidFields([{ pointer: `/${a}`, field: a, detail: `give ${a} or ${b}` }]);
};

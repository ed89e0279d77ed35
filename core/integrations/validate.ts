import type { FieldSpec, FieldValue } from './catalog.js';

export type Checked = { ok: true; value: FieldValue } | { ok: false; problem: string };

/**
 * One input value against its field: the kind, then the field's own check. A problem says what
 * is expected and never quotes the value (it may be a credential pasted into the wrong field).
 */
export const checkField = (spec: FieldSpec, input: unknown): Checked => {
  const bad = (expected: string): Checked => ({ ok: false, problem: `expected ${expected}` });
  switch (spec.kind) {
    case 'bool':
      return typeof input === 'boolean' ? { ok: true, value: input } : bad('true or false');
    case 'port':
    case 'int': {
      const min = spec.kind === 'port' ? 1 : (spec.min ?? Number.MIN_SAFE_INTEGER);
      const max = spec.kind === 'port' ? 65_535 : (spec.max ?? Number.MAX_SAFE_INTEGER);
      const what = spec.kind === 'port' ? 'a TCP port (1 to 65535)' : `an integer from ${min} to ${max}`;
      return Number.isInteger(input) && (input as number) >= min && (input as number) <= max
        ? { ok: true, value: input as number }
        : bad(what);
    }
    case 'enum':
      return typeof input === 'string' && spec.values?.includes(input)
        ? { ok: true, value: input }
        : bad(`one of ${spec.values?.join(', ')}`);
    case 'url':
      if (typeof input !== 'string' || !/^https?:\/\/\S+$/.test(input)) return bad('an http(s) URL');
      return { ok: true, value: input.replace(/\/+$/, '') };
    case 'string':
    case 'secret': {
      if (typeof input !== 'string' || input.length === 0 || input.length > 16_384) return bad('a non-empty string');
      const problem = spec.check?.(input);
      return problem ? bad(problem) : { ok: true, value: input };
    }
  }
};

/** What a read may show of a credential: its last four characters, only when that is a small part of it. */
export const hintOf = (plaintext: string): string | null => (plaintext.length >= 12 ? plaintext.slice(-4) : null);

import type { TObject, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { BatchItems } from '../../schemas/http/records.js';
import type { RecordType } from '../../schemas/records/common.js';
import type { RecordInput } from './events.js';

const checkers = new Map<RecordType, ReturnType<typeof TypeCompiler.Compile>>();
const checkerOf = (type: RecordType) => {
  let c = checkers.get(type);
  if (!c) {
    c = TypeCompiler.Compile(BatchItems[type]);
    checkers.set(type, c);
  }
  return c;
};

/**
 * One record checked against the schema the batch route uses (`schemas/http/records.ts`): the
 * record, or the first few field errors as `pointer: reason`.
 */
export const checkRecord = (
  type: RecordType,
  value: unknown,
): { ok: true; record: RecordInput } | { ok: false; error: string } => {
  const checker = checkerOf(type);
  if (checker.Check(value)) return { ok: true, record: value as RecordInput };
  const errors: string[] = [];
  for (const e of checker.Errors(value)) {
    if (errors.some((s) => s.startsWith(`${e.path || '/'}:`))) continue;
    errors.push(`${e.path || '/'}: ${e.message}`);
    if (errors.length === 5) break;
  }
  return { ok: false, error: errors.join('; ') };
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema a property resolves to (through Optional/Union wrappers) — object or array, if either. */
const kindOf = (schema: TSchema | undefined): 'array' | 'object' | undefined => {
  if (!schema) return undefined;
  if (schema.type === 'array') return 'array';
  if (schema.type === 'object') return 'object';
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  return anyOf?.map(kindOf).find((k) => k !== undefined);
};

/**
 * A CSV row (all text) as a record: `pickup.lat` columns nest, an empty cell is an absent field,
 * a JSON cell (`attributes`, `gpsDeviceIds` as `["a","b"]`) is parsed, a list cell without JSON
 * splits on `;` or `,`, and numbers and booleans are converted where the schema wants them.
 */
export const csvRowToRecord = (type: RecordType, row: Record<string, string>): unknown => {
  const schema = BatchItems[type] as TObject;
  const out: Record<string, unknown> = {};
  for (const [column, cell] of Object.entries(row)) {
    if (cell === '' || cell === undefined) continue;
    const path = column.split('.');
    const top = path[0] as string;
    let value: unknown = cell;
    const kind = path.length === 1 ? kindOf(schema.properties[top]) : undefined;
    if (kind === 'object' || (kind === 'array' && cell.trimStart().startsWith('['))) {
      try {
        value = JSON.parse(cell);
      } catch {
        value = cell;
      }
    } else if (kind === 'array') {
      value = cell
        .split(/[;,]/)
        .map((s) => s.trim())
        .filter(Boolean);
    }
    let at = out;
    for (const key of path.slice(0, -1)) {
      if (!isObject(at[key])) at[key] = {};
      at = at[key] as Record<string, unknown>;
    }
    at[path[path.length - 1] as string] = value;
  }
  return Value.Convert(schema, out);
};

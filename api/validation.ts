import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { FieldError } from '../schemas/http/problem.js';
import { HttpProblem } from './problemDetails.js';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** A compiled checker per schema, built once (TypeBox compiles to a JS function). */
export const checkerFor = (schema: TSchema): TypeCheck<TSchema> => {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c;
};

const fieldOf = (pointer: string) =>
  pointer
    .split('/')
    .slice(1)
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))
    .join('.');

/** Every field that fails, one entry per field (the first reason), in document order. */
export const fieldErrors = (schema: TSchema, value: unknown): FieldError[] => {
  const seen = new Map<string, FieldError>();
  for (const e of checkerFor(schema).Errors(value)) {
    // A union reports each branch's failure as well; the union line alone says enough.
    if (seen.has(e.path)) continue;
    const detail = e.type === ValueErrorType.ObjectAdditionalProperties ? 'unknown field (not allowed here)' : e.message;
    seen.set(e.path, { pointer: e.path === '' ? '' : e.path, field: fieldOf(e.path) || '(body)', detail });
  }
  return [...seen.values()];
};

/** The 400 problem naming each refused field; also for rules a schema cannot say (one of two fields). */
export const invalidFields = (errors: FieldError[], where: 'body' | 'query' = 'body') =>
  new HttpProblem(
    'GW_ERR_VALIDATION',
    `the ${where} has ${errors.length} invalid field${errors.length === 1 ? '' : 's'}: ${errors.map((e) => e.field).join(', ')}`,
    { errors },
  );

/** Returns `value` typed by `schema`, or throws a 400 problem naming each refused field. */
export const validate = <T>(schema: TSchema, value: unknown, where: 'body' | 'query'): T => {
  if (checkerFor(schema).Check(value)) return value as T;
  throw invalidFields(fieldErrors(schema, value), where);
};

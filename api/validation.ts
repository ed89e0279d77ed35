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

/** A refusal names at most this many fields: the error walk stops there, whatever the body holds. */
export const MAX_FIELD_ERRORS = 50;

const lengthOnly = new WeakMap<TSchema, TSchema>();

/**
 * The schema without the `pattern` of every string that has a `maxLength`. TypeBox's error walk
 * runs a string's pattern even after its `maxLength` failed, so an over-long value would reach
 * the regex engine whole; walking this copy first finds over-long strings without any pattern.
 */
const withoutBoundedPatterns = (schema: TSchema): TSchema => {
  let copy = lengthOnly.get(schema);
  if (!copy) {
    copy = strip(schema) as TSchema;
    lengthOnly.set(schema, copy);
  }
  return copy;
};

const strip = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(strip);
  if (typeof node !== 'object' || node === null) return node;
  const source = node as Record<string | symbol, unknown>;
  const bounded = source.type === 'string' && typeof source.maxLength === 'number' && typeof source.pattern === 'string';
  const out: Record<string | symbol, unknown> = {};
  for (const key of Object.getOwnPropertyNames(source)) {
    if (!(bounded && key === 'pattern')) out[key] = strip(source[key]);
  }
  // TypeBox keeps its kind and modifiers (`Optional`) under symbols.
  for (const key of Object.getOwnPropertySymbols(source)) out[key] = source[key];
  return out;
};

const collect = (checker: TypeCheck<TSchema>, value: unknown) => {
  const seen = new Map<string, FieldError>();
  let overLong = false;
  for (const e of checker.Errors(value)) {
    if (e.type === ValueErrorType.StringMaxLength) overLong = true;
    // A union reports each branch's failure as well; the union line alone says enough.
    if (seen.has(e.path)) continue;
    if (seen.size === MAX_FIELD_ERRORS) break;
    const detail = e.type === ValueErrorType.ObjectAdditionalProperties ? 'unknown field (not allowed here)' : e.message;
    seen.set(e.path, { pointer: e.path === '' ? '' : e.path, field: fieldOf(e.path) || '(body)', detail });
  }
  return { errors: [...seen.values()], overLong };
};

/**
 * Every field that fails, one entry per field (the first reason), in document order. Lengths
 * come first: while a string is longer than its `maxLength` the answer names the length
 * failures (and every other failure but patterns), and no pattern runs.
 */
export const fieldErrors = (schema: TSchema, value: unknown): FieldError[] => {
  const lengths = collect(checkerFor(withoutBoundedPatterns(schema)), value);
  if (lengths.overLong) return lengths.errors;
  return collect(checkerFor(schema), value).errors;
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

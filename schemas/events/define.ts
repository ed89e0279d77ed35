import type { Static, TSchema } from '@sinclair/typebox';
import type { EventEnvelope } from './envelope.js';

/**
 * An event declared once: its type literal beside its data schema. Producers build envelopes
 * from it (`newEvent(SmsSent, …)` checks `data` against the schema's type), and each domain's
 * union of its declarations is what folds and handlers `switch` on.
 */
export interface EventDef<T extends string = string, S extends TSchema = TSchema> {
  readonly type: T;
  readonly schema: S;
}

export const defineEvent = <const T extends string, S extends TSchema>(type: T, schema: S): EventDef<T, S> => ({
  type,
  schema,
});

/** The envelope of a declared event: `type` narrowed to its literal, `data` to its schema's type. */
export type EventOf<D> =
  D extends EventDef<infer T, infer S> ? Omit<EventEnvelope, 'type' | 'data'> & { type: T; data: Static<S> } : never;

/** The union of the envelopes of a domain's declarations (an object of `EventDef`s). */
export type EventUnion<Defs extends Readonly<Record<string, EventDef>>> = EventOf<Defs[keyof Defs]>;

/** The type literals of a domain's declarations. */
export type EventTypeOf<Defs extends Readonly<Record<string, EventDef>>> = Defs[keyof Defs]['type'];

/**
 * A domain's events as one value: the declarations, their type names, and a guard that narrows an
 * envelope read from the log to the domain's union by its `type`. The log holds only what
 * producers built from these declarations, so `data` is trusted, not validated again.
 */
export interface EventDomain<Defs extends Readonly<Record<string, EventDef>>> {
  readonly defs: Defs;
  readonly types: ReadonlySet<EventTypeOf<Defs>>;
  is<E extends EventEnvelope>(e: E): e is E & EventUnion<Defs>;
}

export const eventDomain = <const Defs extends Readonly<Record<string, EventDef>>>(defs: Defs): EventDomain<Defs> => {
  const types = new Set(Object.values(defs).map((d) => d.type)) as ReadonlySet<EventTypeOf<Defs>>;
  return {
    defs,
    types,
    is: <E extends EventEnvelope>(e: E): e is E & EventUnion<Defs> => (types as ReadonlySet<string>).has(e.type),
  };
};

/**
 * The end of an exhaustive `switch` over a domain's union: a new declaration that a fold or
 * handler neither handles nor lists as ignored fails `npm run typecheck` here.
 */
export const unhandledEvent = (e: never): never => {
  throw new Error(`unhandled event type ${(e as { type?: unknown }).type}`);
};

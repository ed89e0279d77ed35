import { type Static, Type } from '@sinclair/typebox';

/** What an API key may do. `admin` implies every other scope. */
export const SCOPES = [
  'sms',
  'email',
  'push',
  'telegram',
  'payments',
  'erp',
  'exports',
  'devices',
  'vehicles',
  'analytics',
  'records',
  'admin',
] as const;
export const Scope = Type.Union(SCOPES.map((s) => Type.Literal(s)));
export type Scope = Static<typeof Scope>;

export const isScope = (s: string): s is Scope => (SCOPES as readonly string[]).includes(s);

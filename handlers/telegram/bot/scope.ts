import type { TelegramUserRow } from '../../../core/readModels/telegramUsers.js';

/**
 * What a linked chat may see. admin and dispatcher: everything; company: its company's records;
 * driver: their own. Anything else (a role from before issue 16) sees nothing.
 */
export type Scope =
  | { kind: 'all'; role: 'admin' | 'dispatcher' }
  | { kind: 'company'; companyId: string }
  | { kind: 'driver'; driverId: string };

export const scopeOf = (u: TelegramUserRow): Scope | undefined => {
  if (u.role === 'admin' || u.role === 'dispatcher') return { kind: 'all', role: u.role };
  if (u.role === 'company' && u.company_id) return { kind: 'company', companyId: u.company_id };
  if (u.role === 'driver' && u.driver_id) return { kind: 'driver', driverId: u.driver_id };
  return undefined;
};

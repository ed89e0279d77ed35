import { alertEvents } from './alert.js';
import { commandEvents } from './command.js';
import type { EventDef, EventOf } from './define.js';
import { deviceEvents } from './device.js';
import { deviceCommandEvents } from './deviceCommand.js';
import { emailEvents } from './email.js';
import { erpEvents } from './erp.js';
import { exportEvents } from './export.js';
import { gpsEvents } from './gps.js';
import { integrationEvents } from './integration.js';
import { paymentEvents } from './payment.js';
import { pushEvents } from './push.js';
import { recordEvents } from './record.js';
import { smsEvents } from './sms.js';
import { telegramEvents } from './telegram.js';
import { webhookEvents } from './webhook.js';

/** Every domain's declarations, by domain: the one list of the event types fleetgate writes. */
export const eventCatalog = {
  alert: alertEvents,
  command: commandEvents,
  device: deviceEvents,
  deviceCommand: deviceCommandEvents,
  email: emailEvents,
  erp: erpEvents,
  export: exportEvents,
  gps: gpsEvents,
  integration: integrationEvents,
  payment: paymentEvents,
  push: pushEvents,
  record: recordEvents,
  sms: smsEvents,
  telegram: telegramEvents,
  webhook: webhookEvents,
} as const;

type Catalog = typeof eventCatalog;
/** Every declaration of every domain. */
export type AnyEventDef = { [D in keyof Catalog]: Catalog[D]['defs'][keyof Catalog[D]['defs']] }[keyof Catalog];
/** Every event fleetgate writes, as a union discriminated by `type`. */
export type KnownEvent = EventOf<AnyEventDef>;
export type KnownEventType = KnownEvent['type'];
/** The data of a known event type; `unknown` for any other string (tests' own types). */
export type DataOfType<T extends string> = T extends KnownEventType ? Extract<KnownEvent, { type: T }>['data'] : unknown;

/** All declarations in one list (for documents generated from them: AsyncAPI, the event catalogue). */
export const allEventDefs = (): EventDef[] => Object.values(eventCatalog).flatMap((d) => Object.values(d.defs) as EventDef[]);

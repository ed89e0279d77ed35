import type { DataOfType } from '../../schemas/events/catalog.js';
import { type DeviceEvent, deviceAuditSubject } from '../../schemas/events/device.js';
import { newEvent } from '../eventlog/newEvent.js';
import type { EventLog } from '../eventlog/port.js';

/**
 * Registry changes are facts too: each leaves an audit event (never the token or its hash) on
 * `evt.device.<id>`, which every ingest thread and process follows to drop what it cached.
 */
export const appendDeviceAudit = <T extends DeviceEvent['type']>(
  log: Pick<EventLog, 'append'>,
  change: { type: T; source: 'api' | 'cli'; data: DataOfType<T> & { deviceId: string } },
) => {
  const subject = deviceAuditSubject(change.data.deviceId);
  return log.append(subject, newEvent({ type: change.type, subject, source: change.source, data: change.data }));
};

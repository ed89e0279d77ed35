import { newEvent } from '../eventlog/newEvent.js';
import type { EventLog } from '../eventlog/port.js';

/**
 * Registry changes are facts too: each leaves an audit event (never the token or its hash) on
 * `evt.device.<id>`, which every ingest thread and process follows to drop what it cached.
 */
export const appendDeviceAudit = (
  log: Pick<EventLog, 'append'>,
  change: { type: string; deviceId: string; source: 'api' | 'cli'; by: string | undefined; data?: object },
) => {
  const subject = `evt.device.${change.deviceId.replace(/[.*>\s]/g, '_')}`;
  return log.append(
    subject,
    newEvent({
      type: change.type,
      subject,
      source: change.source,
      data: { deviceId: change.deviceId, by: change.by, ...change.data },
    }),
  );
};

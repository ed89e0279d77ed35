import { isGatewayError } from '../../schemas/errors.js';
import { streamOfSubject } from '../../schemas/events/envelope.js';
import { metrics } from '../metrics.js';
import type { EventLog } from './port.js';

/** Counts appends by stream and result for `/metrics`; everything else passes through. */
export const instrumentedEventLog = (log: EventLog): EventLog => ({
  ...log,
  async append(subject, events, opts) {
    let stream = 'unknown';
    try {
      stream = streamOfSubject(subject);
    } catch {}
    try {
      const ack = await log.append(subject, events, opts);
      metrics.appends.inc({ stream, result: ack.duplicate ? 'duplicate' : 'stored' });
      return ack;
    } catch (e) {
      metrics.appends.inc({ stream, result: isGatewayError(e, 'GW_ERR_VERSION_CONFLICT') ? 'conflict' : 'error' });
      throw e;
    }
  },
});

import type { Handler } from '../../core/runners/handlerRunner.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import { type ERP_REQUESTED, erpCommandSubject } from '../../schemas/events/erp.js';
import { ErpError } from './port.js';
import type { ErpSyncEngine } from './sync.js';

/**
 * `erp.requested` (POST /api/v1/erp/sync, /api/erp-sync.php): one run, its id the command's, so a
 * redelivered or retried command resumes the same run from its last committed page. The run
 * appends its own events page by page (too many for one result list); the handler returns none.
 */
export const erpHandler = (deps: {
  engine: ErpSyncEngine;
  background?: () => { stop(): Promise<void> };
}): Handler<typeof ERP_REQUESTED> => ({
  name: 'erp',
  stream: 'EVENTS',
  subjects: Object.fromEntries(PRIORITIES.map((p) => [p, erpCommandSubject(p)])),
  eventTypes: ['erp.requested' satisfies typeof ERP_REQUESTED],
  async handle(event) {
    const d = event.data;
    try {
      await deps.engine.run({
        runId: event.id,
        entity: d.entity,
        direction: d.direction,
        trigger: 'request',
        causationId: event.id,
        ...(d.ids ? { ids: d.ids } : {}),
      });
    } catch (e) {
      // The run already appended erp.sync_failed; the runner retries a retryable one (ERP down).
      if (e instanceof ErpError) throw e;
      throw ErpError.of('internal', e instanceof Error ? e.message : String(e), true, {}, e);
    }
    return [];
  },
  ...(deps.background ? { background: deps.background } : {}),
});

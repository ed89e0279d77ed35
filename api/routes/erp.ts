import { ERP_REQUESTED, type ErpRequested } from '../../schemas/events/erp.js';
import { ErpSyncRequest } from '../../schemas/http/erp.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute } from '../route.js';
import { ACCEPTED } from './rules.js';

/** The v1 ERP sync command, shared with the legacy route; ids are carried as text whichever form came. */
export const requestErpSync = (deps: ApiDeps, caller: CommandCaller, req: ErpSyncRequest, via: string) => {
  const data: Omit<ErpRequested, 'requestedBy' | 'via'> = {
    entity: req.entity,
    direction: req.direction,
    ...(req.ids === undefined ? {} : { ids: req.ids.map(String) }),
  };
  return issueCommand(deps.log, caller, { domain: 'erp', type: ERP_REQUESTED, data }, via);
};

export const erpRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/erp/sync',
    operationId: 'requestErpSync',
    summary: 'Sync records with the ERP (1C)',
    description: 'Appends `erp.requested`; a handler pushes the records to the ERP or pulls them from it.',
    tags: ['erp'],
    auth: { scope: 'erp' },
    body: ErpSyncRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestErpSync(deps, ctx, ctx.body, 'v1') }),
  }),
];

import { EXPORT_REQUESTED } from '../../schemas/events/export.js';
import { CreateExportRequest } from '../../schemas/http/export.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute } from '../route.js';
import { ACCEPTED } from './rules.js';

/** The v1 export command, shared with the legacy route so both append the same event. */
export const requestExport = (deps: ApiDeps, caller: CommandCaller, req: CreateExportRequest, via: string) =>
  issueCommand(deps.log, caller, { domain: 'export', type: EXPORT_REQUESTED, data: req }, via);

export const exportRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/exports',
    operationId: 'createExport',
    summary: 'Export CRM records to a file',
    description: 'Appends `export.requested`; a handler writes the file, then `GET /api/v1/exports/{id}/download` serves it.',
    tags: ['exports'],
    auth: { scope: 'exports' },
    body: CreateExportRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestExport(deps, ctx, ctx.body, 'v1') }),
  }),
];

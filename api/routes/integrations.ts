import { INTEGRATION_NAMES, type IntegrationName, isIntegrationName } from '../../core/integrations/catalog.js';
import { changeIntegration, recordRotation, SettingsValidationError } from '../../core/integrations/change.js';
import type { Integrations } from '../../core/integrations/index.js';
import { viewOf } from '../../core/integrations/view.js';
import {
  IntegrationChange,
  IntegrationList,
  IntegrationTestResult,
  IntegrationView,
  SecretsRotated,
} from '../../schemas/http/integrations.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext } from '../route.js';

/** Checks an integration's effective credentials against its provider (wired by the process from the handlers). */
export type IntegrationProbe = (name: IntegrationName) => Promise<IntegrationTestResult>;

const NO_STORE = { 'cache-control': 'no-store' };

/** How long a write waits for its own change to be folded and read back before answering 202. */
const READ_BACK_MS = 3_000;

export const integrationRoutes = (deps: ApiDeps, integrations: Integrations, probe: IntegrationProbe | undefined) => {
  const { settings } = integrations;
  const nameOf = (ctx: RequestContext): IntegrationName => {
    const name = ctx.params.name as string;
    if (!isIntegrationName(name)) {
      throw new HttpProblem('GW_ERR_NOT_FOUND', `no integration "${name}"; known: ${INTEGRATION_NAMES.join(', ')}`);
    }
    return name;
  };

  const write = (replace: boolean) => async (ctx: RequestContext<IntegrationChange>) => {
    const name = nameOf(ctx);
    let ack: { seq: number; eventId: string };
    try {
      ack = await changeIntegration(
        { log: deps.log, vault: integrations.vault },
        { name, input: ctx.body, replace, actor: { kind: 'api_key', id: ctx.principal?.prefix ?? 'unknown' } },
      );
    } catch (e) {
      if (e instanceof SettingsValidationError)
        throw new HttpProblem('GW_ERR_VALIDATION', e.message, {
          errors: e.fields.map((f) => ({ pointer: f.path, field: f.path.slice(1), detail: f.message })),
        });
      throw e;
    }
    ctx.logger.info(
      { integration: name, fields: Object.keys(ctx.body), by: ctx.principal?.prefix },
      'integration settings changed',
    );
    const deadline = Date.now() + READ_BACK_MS;
    while (settings.seq < ack.seq && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      await settings.refresh();
    }
    if (settings.seq < ack.seq) return { status: 202, body: { id: ack.eventId, status: 'accepted' }, headers: NO_STORE };
    return { status: 200, body: viewOf(settings.get(name)), headers: NO_STORE };
  };

  const common = { tags: ['integrations'], auth: { scope: 'admin' as const } };
  const changeResponses = {
    200: { description: 'the integration as now in force', schema: IntegrationView },
    202: { description: 'accepted; not yet read back (the projections run elsewhere and lag)' },
    400: { description: 'a value fails its check (field errors)' },
    409: { description: 'a credential without an encryption key (distributed mode without SECRETS_KEYS)' },
  };
  return [
    defineRoute({
      ...common,
      method: 'GET',
      path: '/api/v1/integrations',
      operationId: 'listIntegrations',
      summary: 'Every integration with its effective settings; credentials write-only',
      responses: { 200: { description: 'the integrations', schema: IntegrationList } },
      handle: async () => ({
        status: 200,
        body: { items: INTEGRATION_NAMES.map((n) => viewOf(settings.get(n))) },
        headers: NO_STORE,
      }),
    }),
    defineRoute({
      ...common,
      method: 'GET',
      path: '/api/v1/integrations/{name}',
      operationId: 'getIntegration',
      summary: 'One integration: each value and its source (db, env, default); credentials write-only',
      responses: { 200: { description: 'the integration', schema: IntegrationView } },
      handle: async (ctx) => ({ status: 200, body: viewOf(settings.get(nameOf(ctx))), headers: NO_STORE }),
    }),
    defineRoute({
      ...common,
      method: 'PUT',
      path: '/api/v1/integrations/{name}',
      operationId: 'replaceIntegration',
      summary: 'Replace the stored settings: fields not given fall back to the environment or the default',
      body: IntegrationChange,
      responses: changeResponses,
      handle: write(true),
    }),
    defineRoute({
      ...common,
      method: 'PATCH',
      path: '/api/v1/integrations/{name}',
      operationId: 'updateIntegration',
      summary: 'Change some settings (null clears one)',
      body: IntegrationChange,
      responses: changeResponses,
      handle: write(false),
    }),
    defineRoute({
      ...common,
      method: 'POST',
      path: '/api/v1/integrations/{name}/test',
      operationId: 'testIntegration',
      summary: 'Check the effective credentials against the provider, with a timeout',
      responses: { 200: { description: 'the outcome (ok false carries the provider’s error)', schema: IntegrationTestResult } },
      handle: async (ctx) => {
        const name = nameOf(ctx);
        if (!probe) throw new HttpProblem('GW_ERR_PROVIDER_NOT_CONFIGURED', 'this process cannot test integrations');
        const result = await probe(name);
        ctx.logger.info({ integration: name, ok: result.ok, ms: result.ms }, 'integration tested');
        return { status: 200, body: result, headers: NO_STORE };
      },
    }),
    defineRoute({
      ...common,
      method: 'POST',
      path: '/api/v1/secrets/rotate',
      operationId: 'rotateSecrets',
      summary: 'Re-encrypt every stored credential under SECRETS_ACTIVE_KEY, while the gateway runs',
      description:
        'What `fleetgate secrets rotate` does; the CLI calls this in the embedded mode, where the running gateway holds DATA_DIR. ' +
        'Once every process runs with the new key, older keys can leave SECRETS_KEYS.',
      responses: { 200: { description: 'how many values were re-encrypted, and under which key', schema: SecretsRotated } },
      handle: async (ctx) => {
        const r = await integrations.vault.rotate();
        await recordRotation(deps.log, { ...r, actor: { kind: 'api_key', id: ctx.principal?.prefix ?? 'unknown' } });
        ctx.logger.info({ keyId: r.keyId, reencrypted: r.reencrypted, by: ctx.principal?.prefix }, 'secrets rotated');
        return { status: 200, body: r, headers: NO_STORE };
      },
    }),
  ];
};

import { userInfo } from 'node:os';
import { GatewayError } from '../../schemas/errors.js';
import type { SettingsActor } from '../../schemas/events/integration.js';
import type { IntegrationTestResult } from '../../schemas/http/integrations.js';
import type { EventLog } from '../eventlog/port.js';
import { INTEGRATION_NAMES, type IntegrationName, isIntegrationName } from './catalog.js';
import { changeIntegration, recordRotation, SettingsValidationError } from './change.js';
import type { Integrations } from './index.js';
import { viewOf } from './view.js';

/** What the CLI commands need, opened by core/cli.ts (stores, settings, the probe). */
export interface IntegrationsCliDeps {
  log: EventLog;
  integrations: Integrations;
  probe: (name: IntegrationName) => Promise<IntegrationTestResult>;
  out: (line: string) => void;
  readStdin: () => Promise<string>;
}

const actor = (): SettingsActor => ({ kind: 'cli', id: userInfo().username });

const nameArg = (name: string | undefined): IntegrationName => {
  if (!name || !isIntegrationName(name)) {
    throw new GatewayError('GW_ERR_NOT_FOUND', `name an integration: ${INTEGRATION_NAMES.join(', ')}`);
  }
  return name;
};

/** `field=value`: JSON where it parses as a number, boolean or null, else the text; `field=-` reads stdin (keeps a secret out of `ps`). */
const parseAssignments = async (args: readonly string[], readStdin: () => Promise<string>) => {
  const input: Record<string, unknown> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new GatewayError('GW_ERR_VALIDATION', `expected field=value, not "${a.slice(0, 40)}"`);
    const key = a.slice(0, eq);
    const raw = a.slice(eq + 1);
    if (raw === '-') input[key] = (await readStdin()).replace(/\r?\n$/, '');
    else if (/^(true|false|null|-?\d+)$/.test(raw)) input[key] = JSON.parse(raw);
    else input[key] = raw;
  }
  return input;
};

/** `fleetgate integrations list|show NAME|set NAME field=value…|test NAME`. */
export const integrationsCommand = async (deps: IntegrationsCliDeps, args: readonly string[]): Promise<void> => {
  const [sub, name, ...rest] = args;
  const { settings } = deps.integrations;
  switch (sub) {
    case 'list':
      for (const n of INTEGRATION_NAMES) {
        const v = viewOf(settings.get(n));
        const creds = Object.entries(v.credentials)
          .filter(([, c]) => c.set)
          .map(([k, c]) => `${k}(${c.source})`);
        deps.out(
          `${n}\tenabled=${v.enabled.value}(${v.enabled.source})\ttestMode=${v.testMode.value}(${v.testMode.source})\tcredentials=${creds.join(',') || '-'}`,
        );
      }
      return;
    case 'show':
      deps.out(JSON.stringify(viewOf(settings.get(nameArg(name))), null, 2));
      return;
    case 'set': {
      const n = nameArg(name);
      let ack: { seq: number };
      try {
        ack = await changeIntegration(
          { log: deps.log, vault: deps.integrations.vault },
          { name: n, input: await parseAssignments(rest, deps.readStdin), replace: false, actor: actor() },
        );
      } catch (e) {
        if (e instanceof SettingsValidationError) throw new GatewayError('GW_ERR_VALIDATION', e.message);
        throw e;
      }
      // A running gateway's projections fold it; wait a little to show the result.
      const deadline = Date.now() + 3_000;
      while (settings.seq < ack.seq && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        await settings.refresh();
      }
      if (settings.seq < ack.seq) deps.out(`accepted (log seq ${ack.seq}); it takes effect once a gateway's projections fold it`);
      else deps.out(JSON.stringify(viewOf(settings.get(n)), null, 2));
      return;
    }
    case 'test': {
      const r = await deps.probe(nameArg(name));
      deps.out(JSON.stringify(r, null, 2));
      if (!r.ok) process.exitCode = 1;
      return;
    }
    default:
      throw new GatewayError('GW_ERR_VALIDATION', 'usage: fleetgate integrations list|show NAME|set NAME field=value…|test NAME');
  }
};

/** `fleetgate secrets rotate`: every stored value re-encrypted under SECRETS_ACTIVE_KEY, recorded in the log. */
export const rotateSecrets = async (deps: Pick<IntegrationsCliDeps, 'log' | 'integrations' | 'out'>): Promise<void> => {
  const r = await deps.integrations.vault.rotate();
  await recordRotation(deps.log, { ...r, actor: actor() });
  deps.out(
    `re-encrypted ${r.reencrypted} value(s) under key "${r.keyId}"; once every gateway runs with it, older keys can leave SECRETS_KEYS`,
  );
};

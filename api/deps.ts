import type { Config } from '../core/config.js';
import type { DeviceRegistry } from '../core/devices/registry.js';
import type { EventLog } from '../core/eventlog/port.js';
import type { Integrations } from '../core/integrations/index.js';
import type { Logger } from '../core/logger.js';
import type { Sql } from '../core/stores/postgres.js';
import type { IntegrationTestResult } from '../schemas/http/integrations.js';
import type { SmsBalance } from '../schemas/http/sms.js';

/** What the API's routes are built from (`api/app.ts` → `buildApi(deps)`); tests pass their own. */
export interface ApiDeps {
  config: Config;
  log: EventLog;
  /** Postgres: read models, API keys, idempotency records. */
  sql: Sql;
  logger: Logger;
  /** Wall clock, injectable for tests (signature tolerance, idempotency expiry). */
  now?: () => Date;
  /** The device registry shared with the ingest role (one auth cache per process). */
  devices?: DeviceRegistry;
  /** HTTP client for re-fetching provider objects (YooKassa); defaults to global fetch. */
  fetch?: typeof fetch;
  /**
   * The SMS provider's balance (`GET /api/v1/sms/balance`), wired by the process from the SMS
   * channel; a GatewayError `GW_ERR_PROVIDER_NOT_CONFIGURED` when it has no credentials.
   */
  smsBalance?: () => Promise<SmsBalance>;
  /** Runtime integration settings (`/api/v1/integrations`); the routes exist only where given. */
  integrations?: Integrations;
  /** `POST /api/v1/integrations/{name}/test`, wired by the process from the handlers' probes. */
  probeIntegration?: (name: string) => Promise<IntegrationTestResult>;
}

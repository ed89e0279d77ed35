import type { ApiDeps } from '../deps.js';
import type { RouteSpec } from '../route.js';
import { emailPhp } from './email.js';
import { erpSyncPhp } from './erpSync.js';
import { exportPhp } from './export.js';
import { paymentGatewayPhp } from './paymentGateway.js';
import { pushNotificationsPhp } from './pushNotifications.js';
import { smsPhp } from './sms.js';
import { telegramWebhookPhp } from './telegramWebhook.js';

/** The PHP CRM's integration endpoints (README.md here maps each to its v1 command); hidden from OpenAPI. */
export const legacyRoutes = (deps: ApiDeps): RouteSpec[] => [
  ...smsPhp(deps),
  ...emailPhp(deps),
  ...paymentGatewayPhp(deps),
  ...pushNotificationsPhp(deps),
  ...erpSyncPhp(deps),
  ...telegramWebhookPhp(deps),
  ...exportPhp(deps),
];

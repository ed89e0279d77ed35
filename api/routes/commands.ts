import type { ApiDeps } from '../deps.js';
import type { RouteSpec } from '../route.js';
import { emailRoutes } from './email.js';
import { erpRoutes } from './erp.js';
import { exportRoutes } from './exports.js';
import { paymentRoutes } from './payments.js';
import { pushRoutes } from './push.js';
import { telegramRoutes } from './telegram.js';

/** The v1 command routes of every channel but SMS (`smsRoutes`, which also serves its GETs). */
export const commandRoutes = (deps: ApiDeps): RouteSpec[] => [
  ...emailRoutes(deps),
  ...pushRoutes(deps),
  ...telegramRoutes(deps),
  ...paymentRoutes(deps),
  ...erpRoutes(deps),
  ...exportRoutes(deps),
];

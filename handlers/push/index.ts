import type { Handler } from '../../core/runners/handlerRunner.js';
import { GatewayError } from '../../schemas/errors.js';
import type { HandlerDeps } from '../index.js';
import { fcmPushSender, readServiceAccount } from './fcm.js';
import { pushHandler } from './handler.js';
import { testModePushSender } from './testMode.js';

/** FCM_TEST_MODE (default on) simulates; off, FCM_SERVICE_ACCOUNT must name a service-account file. */
export const buildPushHandler = ({ config, logger, log, sql }: HandlerDeps): Handler => {
  const { FCM_TEST_MODE, FCM_SERVICE_ACCOUNT } = config.env;
  if (FCM_TEST_MODE) {
    let projectId = 'fleetgate-test';
    try {
      if (FCM_SERVICE_ACCOUNT) projectId = readServiceAccount(FCM_SERVICE_ACCOUNT).project_id;
    } catch {
      // Test mode never uses the account; its project id only makes the simulated ids look right.
    }
    return pushHandler({ sender: testModePushSender(projectId), sql, log, logger });
  }
  if (!FCM_SERVICE_ACCOUNT) {
    // The CRM's FCM_API_KEY was a legacy server key; Google shut that API down in 2024.
    throw new GatewayError('GW_ERR_CONFIG', 'FCM_TEST_MODE=false needs FCM_SERVICE_ACCOUNT (a service-account JSON file path)');
  }
  return pushHandler({ sender: fcmPushSender({ serviceAccountPath: FCM_SERVICE_ACCOUNT }), sql, log, logger });
};

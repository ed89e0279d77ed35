import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { fcmPushSender, readServiceAccount } from './fcm.js';
import { pushHandler } from './handler.js';
import { testModePushSender } from './testMode.js';

/** `config.push`: test mode (the default) simulates; live, the service-account file (checked at start-up) is read here. */
export const buildPushHandler = ({ config, logger, log, sql }: HandlerDeps): AnyHandler => {
  const push = config.push;
  if (push.testMode) {
    let projectId = 'fleetgate-test';
    try {
      if (push.serviceAccountPath) projectId = readServiceAccount(push.serviceAccountPath).project_id;
    } catch {
      // Test mode never uses the account; its project id only makes the simulated ids look right.
    }
    return pushHandler({ sender: testModePushSender(projectId), sql, log, logger });
  }
  return pushHandler({ sender: fcmPushSender({ serviceAccountPath: push.serviceAccountPath }), sql, log, logger });
};

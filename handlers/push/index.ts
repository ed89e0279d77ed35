import { following } from '../../core/integrations/follow.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { fcmPushSender, readServiceAccount } from './fcm.js';
import { pushHandler } from './handler.js';
import type { PushSender } from './port.js';
import { testModePushSender } from './testMode.js';

/**
 * The sender `push.fcm`'s run-time settings ask for: test mode; the service-account JSON stored
 * encrypted (kept in memory, never written to disk); or the file FCM_SERVICE_ACCOUNT names.
 */
const liveSender = (deps: HandlerDeps, settings: IntegrationSettings): PushSender => {
  const build = (): PushSender => {
    const p = settings.get('push.fcm');
    const json = p.fields.serviceAccountJson?.value;
    const path = p.fields.serviceAccountPath?.value;
    if (p.testMode.value)
      return testModePushSender(typeof json === 'string' ? (JSON.parse(json).project_id as string) : 'fleetgate-test');
    if (typeof json === 'string') return fcmPushSender({ serviceAccountJson: json });
    if (typeof path === 'string') return fcmPushSender({ serviceAccountPath: path });
    deps.logger.warn('push.fcm is live without a service account: simulating (test mode) until one is set');
    return testModePushSender('fleetgate-test');
  };
  const f = following(settings, 'push.fcm', build, { logger: deps.logger, close: (s) => s.close() });
  return {
    get testMode() {
      return f.current.testMode;
    },
    get projectId() {
      return f.current.projectId;
    },
    sendToTokens: (tokens, message) => f.use((s) => s.sendToTokens(tokens, message)),
    close: () => f.close(),
  };
};

/** `config.push`: test mode (the default) simulates; live, the service-account file (checked at start-up) is read here. */
export const buildPushHandler = (deps: HandlerDeps): AnyHandler => {
  const { config, logger, log, sql } = deps;
  if (deps.integrations) return pushHandler({ sender: liveSender(deps, deps.integrations.settings), sql, log, logger });
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

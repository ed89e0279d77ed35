import { randomBytes } from 'node:crypto';
import type { PushSender, TokenSendResult } from './port.js';

/**
 * FCM_TEST_MODE: nothing leaves the gateway. Every token is accepted with a message name shaped
 * like FCM's (`projects/<project>/messages/0:<µs>%<hex>`), so events and read-model rows look as
 * they would live.
 */
export const testModePushSender = (projectId: string): PushSender => ({
  testMode: true,
  projectId,
  async sendToTokens(tokens) {
    return tokens.map(
      (token): TokenSendResult => ({
        token,
        messageId: `projects/${projectId}/messages/0:${Date.now()}${randomBytes(2).readUInt16BE() % 1000}%${randomBytes(8).toString('hex')}`,
      }),
    );
  },
  async close() {},
});

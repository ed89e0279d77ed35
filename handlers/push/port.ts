import { HandlerError } from '../../core/runners/handlerRunner.js';
import type { PushFailed } from '../../schemas/events/push.js';

/** One notification as every device of a push gets it. */
export interface PushMessage {
  title: string;
  body: string;
  /** FCM data values are strings only. */
  data?: Record<string, string>;
  /** urgent/high wake the device (FCM android `high`, APNs priority 10); normal/low may be deferred. */
  urgent: boolean;
  /**
   * Shown-notification key (Android/web `tag`, APNs `apns-collapse-id`): FCM has no idempotency
   * key, so a message re-sent after a crash replaces the one on screen instead of showing twice.
   */
  collapseId: string;
}

/** What the provider answered for one token: FCM's message name, or its error code and message. */
export type TokenSendResult =
  | { token: string; messageId: string; error?: undefined }
  | { token: string; messageId?: undefined; error: { code: string; message: string } };

/**
 * The push provider port: FCM, or the test-mode stand-in. A multicast where some tokens fail is
 * an outcome, so each token's failure is data in its result; a chunk FCM refused as a whole is
 * recorded against each of its tokens, so the outcomes of the other chunks are kept. Only a
 * programming error throws.
 */
export interface PushSender {
  readonly testMode: boolean;
  readonly projectId: string;
  /** One FCM request per token, results in the order of `tokens`. */
  sendToTokens(tokens: readonly string[], message: PushMessage): Promise<TokenSendResult[]>;
  close(): Promise<void>;
}

/** What `push.failed` records besides the reason: the token results so far and the last error's code. */
export type PushFailure = Omit<PushFailed, 'reason' | 'testMode'>;

/** The push channel's handler error: the give-up details travel with it to `onGiveUp`. */
export class PushSendError extends HandlerError<PushFailure> {}

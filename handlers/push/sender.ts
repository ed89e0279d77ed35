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
 * The push provider port: FCM, or the test-mode stand-in. A token's failure is data in its result;
 * only a programming error throws.
 */
export interface PushSender {
  readonly testMode: boolean;
  readonly projectId: string;
  /** One FCM request per token, results in the order of `tokens`. */
  sendToTokens(tokens: readonly string[], message: PushMessage): Promise<TokenSendResult[]>;
  close(): Promise<void>;
}

/**
 * A Bot API call that did not succeed. `errorCode` is Telegram's `error_code` (400, 403, 429, …),
 * undefined when no answer arrived (network, timeout).
 */
export class TelegramSendError extends Error {
  constructor(
    message: string,
    readonly errorCode: number | undefined,
    /** `parameters.retry_after` of a 429, in seconds. */
    readonly retryAfterSeconds?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TelegramSendError';
  }
}

/** The Telegram provider port: the Bot API through grammy, or the test-mode stand-in. */
export interface TelegramSender {
  readonly testMode: boolean;
  /** Resolves with Telegram's message id; rejects with `TelegramSendError`. */
  sendMessage(chatId: number, text: string): Promise<{ messageId: number }>;
}

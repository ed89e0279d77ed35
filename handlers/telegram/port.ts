import { HandlerError } from '../../core/runners/handlerRunner.js';

/** What `telegram.failed` records besides the reason, and what the Bot API answered. */
export interface TelegramFailure {
  /** `not_linked`, `invalid_request`, `network`, or `tg_<error_code>` (`tg_403`). */
  code: string;
  chatId?: number;
  /** Telegram's `error_code` (400, 403, 429, …); undefined when no answer arrived (network, timeout). */
  errorCode?: number;
  /** `parameters.retry_after` of a 429, in seconds. */
  retryAfterSeconds?: number;
}

/** The Telegram channel's handler error: the give-up details travel with it to `onGiveUp`. */
export class TelegramSendError extends HandlerError<TelegramFailure> {
  get errorCode() {
    return this.details?.errorCode;
  }
  get retryAfterSeconds() {
    return this.details?.retryAfterSeconds;
  }
}

/**
 * Telegram's answer → the runner's policy: 429 waits `retry_after`; 5xx and no answer are
 * retried with back-off; anything else (400 chat not found, 403 bot blocked, 401 bad token) is
 * permanent. A timed-out call may still have been delivered: Telegram has no idempotency key.
 */
export const classifyTelegramError = (e: {
  errorCode?: number | undefined;
  retryAfterSeconds?: number | undefined;
}): { retryable: boolean; retryAfterMs?: number } => {
  if (e.errorCode === undefined) return { retryable: true };
  if (e.errorCode === 429) return { retryable: true, retryAfterMs: (e.retryAfterSeconds ?? 1) * 1_000 };
  return { retryable: e.errorCode >= 500 };
};

/** A Bot API call that did not succeed, classified; `errorCode` undefined when no answer arrived. */
export const botApiError = (message: string, errorCode: number | undefined, retryAfterSeconds?: number, cause?: unknown) => {
  const c = classifyTelegramError({ errorCode, retryAfterSeconds });
  return new TelegramSendError(message, c.retryable, {
    details: {
      code: errorCode === undefined ? 'network' : `tg_${errorCode}`,
      ...(errorCode === undefined ? {} : { errorCode }),
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    },
    ...(c.retryAfterMs === undefined ? {} : { retryAfterMs: c.retryAfterMs }),
    ...(cause === undefined ? {} : { cause }),
  });
};

/** The Telegram provider port: the Bot API through grammy, or the test-mode stand-in. */
export interface TelegramSender {
  readonly testMode: boolean;
  /** Resolves with Telegram's message id; rejects with `TelegramSendError` (`botApiError`). */
  sendMessage(chatId: number, text: string): Promise<{ messageId: number }>;
}

/**
 * What to do about one token's FCM error, by firebase-admin's error code
 * (firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode; PROVIDERS.md §5):
 * - `retryable`: FCM or the network was the problem; another attempt may succeed.
 * - `invalid_token`: the token will never work again; it is revoked.
 * - `rejected`: permanent for this message (payload, credentials), but says nothing about the
 *   token, so the token is kept.
 */
export type FcmOutcome = 'retryable' | 'invalid_token' | 'rejected';

/** FCM's guidance for QUOTA_EXCEEDED: back off with a minimum initial delay of one minute. */
export const FCM_QUOTA_RETRY_AFTER_MS = 60_000;

const RETRYABLE = new Set([
  'messaging/server-unavailable', // 503 UNAVAILABLE, after firebase-admin's own retries (it honours Retry-After)
  'messaging/internal-error', // 500 INTERNAL
  'messaging/unknown-error', // a non-JSON answer with an unexpected status: a proxy or load balancer
  'app/network-error',
  'app/network-timeout',
  'app/internal-error',
  // The OAuth token request failed; a wrong key keeps failing and ends in push.failed after the last attempt.
  'app/invalid-credential',
]);

const QUOTA = new Set([
  'messaging/message-rate-exceeded',
  'messaging/device-message-rate-exceeded',
  'messaging/topics-message-rate-exceeded',
]);

const INVALID_TOKEN = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);

/**
 * INVALID_ARGUMENT covers both a bad token and a bad payload; only the message tells them apart
 * ("The registration token is not a valid FCM registration token"). A payload error must not
 * revoke every device of the user.
 */
const TOKEN_ARGUMENT = /registration[ -]token|message\.token/i;

export const classifyFcmError = (
  error: { code: string; message: string },
  quotaRetryAfterMs = FCM_QUOTA_RETRY_AFTER_MS,
): { outcome: FcmOutcome; retryAfterMs?: number } => {
  if (INVALID_TOKEN.has(error.code)) return { outcome: 'invalid_token' };
  if (error.code === 'messaging/invalid-argument') {
    return { outcome: TOKEN_ARGUMENT.test(error.message) ? 'invalid_token' : 'rejected' };
  }
  // firebase-admin hides the response headers, so a 429's Retry-After cannot be read: FCM's documented floor instead.
  if (QUOTA.has(error.code)) return { outcome: 'retryable', retryAfterMs: quotaRetryAfterMs };
  if (RETRYABLE.has(error.code)) return { outcome: 'retryable' };
  // SENDER_ID_MISMATCH (mismatched-credential) is a token of another project, but with a wrong
  // service account every token would answer it: rejected, never revoked. Likewise APNs/web-push
  // credentials (third-party-auth-error), payload and option errors.
  return { outcome: 'rejected' };
};

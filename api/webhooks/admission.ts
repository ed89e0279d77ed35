import type { ApiDeps } from '../deps.js';
import { type RateLimiter, rateLimiter } from '../rateLimit.js';

/** One counter per configuration, so `/webhooks/telegram` and the legacy PHP URL share it. */
const limiters = new WeakMap<ApiDeps['config']['webhooks'], RateLimiter>();

/**
 * What a webhook route admits before it verifies anything: providers send a few KB, so a body
 * gets the webhook limit rather than the API's megabyte, and each client address its own
 * delivery budget besides the API-wide one (issue 23).
 */
export const webhookAdmission = (deps: ApiDeps) => {
  const w = deps.config.webhooks;
  let limiter = limiters.get(w);
  if (!limiter) {
    limiter = rateLimiter({ windowSeconds: deps.config.api.rateLimit.windowSeconds, perKey: 0, perIp: w.perIp });
    limiters.set(w, limiter);
  }
  const admitted = limiter;
  return { maxBodyBytes: w.maxBodyBytes, admit: (address: string) => admitted.address(address) };
};

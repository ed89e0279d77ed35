import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { HttpProblem } from './problemDetails.js';

export interface RateLimits {
  windowSeconds: number;
  /** Requests per window per API key; 0 turns the limit off. */
  perKey: number;
  /** Requests per window per client address; 0 turns the limit off. */
  perIp: number;
}

/**
 * Fixed-window counters per API key and per client address (rate-limiter-flexible, in memory):
 * each gateway process counts its own requests, so N processes behind a balancer allow N times
 * the limit – set the limits per process.
 */
export const rateLimiter = (limits: RateLimits) => {
  const make = (points: number, prefix: string) =>
    points > 0 ? new RateLimiterMemory({ points, duration: limits.windowSeconds, keyPrefix: prefix }) : undefined;
  const byKey = make(limits.perKey, 'key');
  const byIp = make(limits.perIp, 'ip');

  const consume = async (limiter: RateLimiterMemory, id: string, what: string) => {
    try {
      await limiter.consume(id);
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      const retryAfter = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      throw new HttpProblem(
        'GW_ERR_RATE_LIMITED',
        `${what} limit of ${limiter.points} requests per ${limits.windowSeconds} s reached`,
        {
          headers: { 'retry-after': String(retryAfter) },
        },
      );
    }
  };
  // A limit that is off answers undefined rather than a settled promise: the caller then skips
  // the await, a microtask turn per request on the command path.
  const take = (limiter: RateLimiterMemory | undefined, id: string, what: string): Promise<void> | undefined =>
    limiter ? consume(limiter, id, what) : undefined;
  return {
    address: (ip: string) => take(byIp, ip, 'client address'),
    key: (keyId: string) => take(byKey, keyId, 'API key'),
  };
};
export type RateLimiter = ReturnType<typeof rateLimiter>;

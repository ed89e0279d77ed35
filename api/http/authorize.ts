import { type ApiKeyStore, hasScope, presentedKey } from '../auth.js';
import { HttpProblem } from '../problemDetails.js';
import type { RateLimiter } from '../rateLimit.js';
import { type ApiPrincipal, type RouteSpec, routeScopes } from '../route.js';

/**
 * The API key of a non-public route: present (401), known (401), with one of the route's scopes
 * (403), then the key's rate limit. Public routes have no principal.
 */
export const authorize = async (
  route: RouteSpec,
  headers: Record<string, string>,
  keys: ApiKeyStore,
  limiter: RateLimiter,
): Promise<ApiPrincipal | undefined> => {
  if (route.auth === 'public') return undefined;
  const key = presentedKey(headers);
  if (!key)
    throw new HttpProblem('GW_ERR_UNAUTHORIZED', 'send the API key as Authorization: Bearer <key>', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  const principal = await keys.authenticate(key);
  if (!principal)
    throw new HttpProblem('GW_ERR_UNAUTHORIZED', 'the API key is not valid (unknown or revoked)', {
      headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
    });
  const scopes = routeScopes(route.auth);
  if (!scopes.some((s) => hasScope(principal, s))) {
    throw new HttpProblem('GW_ERR_FORBIDDEN', `this route needs the ${scopes.map((s) => `"${s}"`).join(' or ')} scope`);
  }
  const limited = limiter.key(principal.keyId);
  if (limited) await limited;
  return principal;
};

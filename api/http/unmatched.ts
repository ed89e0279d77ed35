import type { HttpRequest, HttpResponse } from '../../core/http/uws.js';
import { metrics } from '../../core/metrics.js';
import { HttpProblem, PROBLEM_TYPE, toProblem } from '../problemDetails.js';
import type { Method } from '../route.js';
import { Exchange } from './exchange.js';
import { nextRequestId } from './requestSnapshot.js';

/**
 * Methods that may appear as a metrics label; anything else a client sends is counted as OTHER,
 * so unauthenticated clients cannot create series without bound.
 */
const LABELLED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const methodLabel = (method: string) => (LABELLED_METHODS.has(method) ? method : 'OTHER');

/** Any request no route took: 405 when the path exists under another method, else 404. */
export const unmatched =
  (routes: readonly { regex: RegExp; route: { method: Method } }[]) => (res: HttpResponse, req: HttpRequest) => {
    const ex = new Exchange(res);
    const path = req.getUrl();
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const requestId = nextRequestId();
    const allowed = routes.filter((c) => c.regex.test(path)).map((c) => c.route.method);
    const e = allowed.length
      ? new HttpProblem('GW_ERR_METHOD_NOT_ALLOWED', `${method} is not served here; use ${[...new Set(allowed)].join(', ')}`, {
          headers: { allow: [...new Set(allowed)].join(', ') },
        })
      : new HttpProblem('GW_ERR_ROUTE_NOT_FOUND', `no route ${path}`);
    const { problem, headers } = toProblem(e, { requestId, path });
    metrics.httpRefusals.inc({ route: 'unmatched', code: problem.code });
    metrics.httpRequests.observe({ method: methodLabel(method), route: 'unmatched', status: String(problem.status) }, 0);
    ex.send(
      problem.status,
      { 'x-request-id': requestId, 'content-type': PROBLEM_TYPE, ...headers },
      JSON.stringify(problem),
      true,
    );
  };

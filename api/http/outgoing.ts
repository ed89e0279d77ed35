import type { Logger } from '../../core/logger.js';
import { metrics } from '../../core/metrics.js';
import { PROBLEM_TYPE, toProblem } from '../problemDetails.js';
import type { Reply } from '../route.js';
import { ClientGone } from './exchange.js';

/**
 * A response ready for `Exchange.send`; `close` ends the connection after it. With `stream` the
 * body is written as the stream yields it (`Exchange.stream`), `payload` unused.
 */
export interface Outgoing {
  status: number;
  headers: Record<string, string>;
  payload: string | Buffer;
  close: boolean;
  stream?: Reply['stream'];
}

/** A route's reply as a response: a raw payload as it is, anything else as JSON. */
export const replyOut = (reply: Reply, requestId: string): Outgoing => {
  const headers: Record<string, string> = { 'x-request-id': requestId, ...reply.headers };
  if (reply.raw !== undefined) {
    headers['content-type'] = reply.type ?? 'text/plain; charset=utf-8';
    return { status: reply.status, headers, payload: reply.raw, close: false };
  }
  headers['content-type'] = reply.type ?? 'application/json';
  if (reply.stream) return { status: reply.status, headers, payload: '', stream: reply.stream, close: false };
  const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
  return { status: reply.status, headers, payload, close: false };
};

/**
 * A failure as problem+json (logged at 5xx, counted by code); undefined when the client is gone.
 * `bodyPending`: a refused body may still be arriving, and closing is the only way not to read it.
 */
export const problemOut = (
  e: unknown,
  at: { requestId: string; path: string; route: string },
  bodyPending: boolean,
  logger: Logger,
): Outgoing | undefined => {
  if (e instanceof ClientGone) return undefined;
  const { problem, headers } = toProblem(e, { requestId: at.requestId, path: at.path });
  if (problem.status >= 500) logger.error({ err: e, requestId: at.requestId, route: at.route }, 'request failed');
  metrics.httpRefusals.inc({ route: at.route, code: problem.code });
  return {
    status: problem.status,
    headers: { 'x-request-id': at.requestId, 'content-type': PROBLEM_TYPE, ...headers },
    payload: JSON.stringify(problem),
    close: problem.status === 413 || problem.status === 408 || bodyPending,
  };
};

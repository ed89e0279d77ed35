import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Config } from '../../core/config.js';
import type { DeviceRegistry } from '../../core/devices/registry.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { GatewayError, PortUnavailableError } from '../../schemas/errors.js';
import { GpsIntakeOverloadedError, gpsBatcher, gpsEvent } from '../gps/batcher.js';
import { gpsMetrics } from '../gps/metrics.js';
import { parsePoints, type Refusal } from '../gps/parsePoints.js';
import { decodeOsmand, type OsmandVariant } from './decode.js';
import { type OsmandRefusal, osmandMetrics } from './metrics.js';

/** A Traccar Client request is a few hundred bytes; a batch sync of the JSON variant a few KB. */
export const OSMAND_MAX_BODY_BYTES = 64 * 1024;
/** Past the limit the rest of a body is read and dropped (so the client reads the 413) up to this, then the socket is cut. */
const DISCARD_MAX_BYTES = 1024 * 1024;
/** Tokens are `fgd_` + 43 characters; anything much longer is not one and is not hashed. */
const MAX_TOKEN_LENGTH = 256;
/** Seconds a client is told to wait after a 503 (the apps retry on their own schedule anyway). */
const RETRY_AFTER_SECONDS = '5';

export interface OsmandIngestOptions {
  config: Pick<Config, 'osmand' | 'gps'>;
  log: EventLog;
  devices: Pick<DeviceRegistry, 'byToken'>;
  logger: Logger;
  /** Default `config.osmand.port`; 0 picks a free one. */
  port?: number;
  /** Default: every interface (phones connect from outside). */
  host?: string;
  /** Points waiting for the log at which requests are answered 503. Default 4 × the larger of batch and message size. */
  maxPendingPoints?: number;
  maxBodyBytes?: number;
  now?: () => number;
}

export interface OsmandIngest {
  port: number;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  /** Close the connection after the answer. */
  close?: boolean;
  /** Request-level refusal, counted in `fleetgate_osmand_refusals_total`. */
  refusal?: OsmandRefusal;
  body?: { reason: string; detail: string; accepted?: number };
}

const refusedAnswer = (status: number, refusal: OsmandRefusal, detail: string): Answer => ({
  status,
  refusal,
  body: { reason: refusal, detail },
});

/**
 * The OsmAnd protocol on `OSMAND_PORT`, as the Traccar Client app (and OsmAnd's live tracking)
 * sends it: any method and path; the fields in the query, a form body or the JSON variant. The
 * `id` is the device's token (the protocol has no password), resolved with `devices.byToken`.
 * A request is answered 200 only once its points are in an acknowledged GPS-stream append.
 */
export const startOsmandIngest = async (opts: OsmandIngestOptions): Promise<OsmandIngest> => {
  const { config, log, devices, logger } = opts;
  const now = opts.now ?? Date.now;
  const maxBodyBytes = opts.maxBodyBytes ?? OSMAND_MAX_BODY_BYTES;
  let closing = false;
  const batcher = gpsBatcher({
    log,
    source: 'osmand',
    maxPoints: config.gps.batchMaxPoints,
    maxMs: config.gps.batchMaxMs,
    maxInFlight: config.gps.appendsInFlight,
    maxPending: opts.maxPendingPoints ?? 4 * Math.max(config.gps.batchMaxPoints, config.gps.maxPointsPerMessage),
    onPressure: (saturated) =>
      logger.warn(
        { saturated, pending: batcher.pending },
        saturated ? 'GPS intake saturated: OsmAnd requests answered 503' : 'GPS intake drained',
      ),
    onAppendError: (err, points) => logger.error({ err, points }, 'GPS append failed'),
  });

  const pointRefused = (r: Refusal) => gpsMetrics.pointsRefused.inc({ source: 'osmand', reason: r.reason });

  const handle = async (req: IncomingMessage, body: Buffer, remote: string | undefined): Promise<[OsmandVariant, Answer]> => {
    const receivedAt = now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const decoded = decodeOsmand(
      { query: q < 0 ? '' : url.slice(q + 1), contentType: req.headers['content-type'], body },
      receivedAt,
    );
    const { variant } = decoded;
    if (closing) return [variant, refusedAnswer(503, 'shutting_down', 'the gateway is restarting; send again')];
    if (decoded.token === undefined) {
      if (decoded.refusal) {
        pointRefused(decoded.refusal);
        return [variant, { status: 400, body: { reason: decoded.refusal.reason, detail: decoded.refusal.detail } }];
      }
      const field = variant === 'json' ? 'device_id' : 'id';
      return [variant, refusedAnswer(400, 'missing_device_id', `${field} (the device token) is required`)];
    }
    let device: Awaited<ReturnType<typeof devices.byToken>>;
    try {
      device = decoded.token.length <= MAX_TOKEN_LENGTH ? await devices.byToken(decoded.token) : undefined;
    } catch (err) {
      logger.error({ err }, 'device registry unavailable');
      return [variant, refusedAnswer(503, 'registry_unavailable', 'device registry unavailable; send again')];
    }
    if (!device) {
      // Never log the id: it may be a real token with a typo, or another device's.
      logger.debug({ remote, variant }, 'osmand request with an unknown or disabled device token');
      // Traccar answers 400 for an unknown id in the query variant and 404 in the JSON one (the app expects it).
      const status = variant === 'json' ? 404 : 400;
      return [
        variant,
        refusedAnswer(
          status,
          'unknown_device',
          'unknown or disabled device: the identifier must be the device token from POST /api/v1/devices, not its id',
        ),
      ];
    }
    if (decoded.refusal) {
      pointRefused(decoded.refusal);
      return [variant, { status: 400, body: { reason: decoded.refusal.reason, detail: decoded.refusal.detail } }];
    }
    const parsed = parsePoints(decoded.points.length === 1 ? decoded.points[0] : decoded.points, {
      deviceId: device.id,
      source: 'osmand',
      now: receivedAt,
      maxFutureMs: config.gps.maxFutureMs,
      maxPoints: config.gps.maxPointsPerMessage,
    });
    for (const r of parsed.refused) pointRefused(r);
    const firstRefusal = parsed.refused[0];
    const refusedBody = firstRefusal && {
      reason: firstRefusal.reason,
      detail: firstRefusal.detail,
      ...(parsed.accepted.length > 0 ? { accepted: parsed.accepted.length } : {}),
    };
    if (parsed.accepted.length === 0) return [variant, { status: 400, ...(refusedBody ? { body: refusedBody } : {}) }];
    if (batcher.saturated) {
      return [variant, refusedAnswer(503, 'overloaded', 'the gateway is busy; send again')];
    }
    gpsMetrics.pointsAccepted.inc({ source: 'osmand' }, parsed.accepted.length);
    try {
      await batcher.add(parsed.accepted.map(gpsEvent));
    } catch (e) {
      const overloaded = e instanceof GpsIntakeOverloadedError;
      if (!overloaded && !(e instanceof GatewayError)) throw e;
      return [
        variant,
        refusedAnswer(503, overloaded ? 'overloaded' : 'log_unavailable', 'the position was not stored; send it again'),
      ];
    }
    // Some points of a batch refused: the good ones are stored (a resend dedupes on the event id).
    return [variant, refusedBody ? { status: 400, body: refusedBody } : { status: 200 }];
  };

  const send = (res: ServerResponse, variant: OsmandVariant | 'unknown', answer: Answer) => {
    osmandMetrics.requests.inc({ variant, status: String(answer.status) });
    if (answer.refusal) osmandMetrics.refusals.inc({ reason: answer.refusal });
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string> = {};
    if (answer.status === 503) headers['retry-after'] = RETRY_AFTER_SECONDS;
    if (closing || answer.close) headers.connection = 'close';
    if (!answer.body) {
      res.writeHead(answer.status, { ...headers, 'content-length': '0' }).end();
      return;
    }
    const text = JSON.stringify(answer.body);
    res
      .writeHead(answer.status, {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
      })
      .end(text);
  };

  const tooLarge = (): Answer => refusedAnswer(413, 'body_too_large', `request bodies are limited to ${maxBodyBytes} bytes`);

  const server = createServer((req, res) => {
    const remote = req.socket.remoteAddress;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > DISCARD_MAX_BYTES) {
      // Not worth reading: answer and cut the connection.
      send(res, 'unknown', { ...tooLarge(), close: true });
      res.on('finish', () => req.socket.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = declared > maxBodyBytes;
    if (refused) send(res, 'unknown', tooLarge());
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DISCARD_MAX_BYTES) {
        req.socket.destroy();
        return;
      }
      if (refused) return; // read and dropped, so the client gets to read its 413
      if (size > maxBodyBytes) {
        refused = true;
        chunks.length = 0;
        send(res, 'unknown', tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {}); // a client that went away; nothing to answer
    req.on('end', () => {
      if (refused) return;
      handle(req, Buffer.concat(chunks), remote).then(
        ([variant, answer]) => send(res, variant, answer),
        (err: unknown) => {
          logger.error({ err }, 'osmand request failed');
          send(res, 'unknown', { status: 500, body: { reason: 'internal', detail: 'unexpected error' } });
        },
      );
    });
  });
  // A phone on a bad network may be slow; a silent one must not hold a socket for long.
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  server.on('clientError', (err, socket) => {
    osmandMetrics.requests.inc({ variant: 'unknown', status: 'client_error' });
    logger.debug({ err: err.message }, 'osmand client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  const requestedPort = opts.port ?? config.osmand.port;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(requestedPort, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: unknown) => {
    await batcher.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new PortUnavailableError('OSMAND_PORT', requestedPort, { cause: e });
    }
    throw e;
  });
  server.on('error', (err) => logger.error({ err }, 'osmand server error'));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  logger.info({ port }, 'osmand ingest listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await batcher.close(); // requests waiting for an append get their answer
        // The answers just written go out with `connection: close`; whatever still lingers is cut.
        await new Promise((resolve) => setImmediate(resolve));
        server.closeIdleConnections();
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
        await Promise.race([serverClosed, grace]);
        server.closeAllConnections();
        await serverClosed;
      })()),
  };
};

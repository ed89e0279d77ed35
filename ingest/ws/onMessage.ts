import { GpsIntakeOverloadedError, gpsEvent } from '../gps/batcher.js';
import { type ParseContext, type ParsedPoints, parsePoints } from '../gps/parsePoints.js';

/** What a driver socket knows about itself. */
export interface DriverSession {
  deviceId: string;
}

/** Replies, as sent to the phone (JSON). */
export type DriverReply =
  | { type: 'ack'; ids: string[] }
  | { type: 'error'; code: string; reason: string; ids: string[]; index?: number | null };

export interface DriverMessageDeps {
  /** Appends and resolves once durable (the GPS batcher's `add`). */
  append(events: ReturnType<typeof gpsEvent>[]): Promise<void>;
  parse?: (payload: unknown, ctx: ParseContext) => ParsedPoints;
  context(deviceId: string): ParseContext;
}

/**
 * One driver message → the replies to send, in order: errors per refused point at once, then an
 * `ack` naming the accepted points once the log holds them. Pure apart from `append`, so it is
 * tested without a socket (the uWS binding in `driverSocket.ts` only moves bytes).
 */
export const onDriverMessage = async (session: DriverSession, bytes: Buffer, deps: DriverMessageDeps): Promise<DriverReply[]> => {
  let msg: unknown;
  try {
    msg = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return [{ type: 'error', code: 'malformed_json', reason: (e as Error).message.slice(0, 200), ids: [] }];
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    return [
      {
        type: 'error',
        code: 'not_an_object',
        reason: 'send { "type": "location", ... } or { "type": "locations", "items": [...] }',
        ids: [],
      },
    ];
  }
  const { type, items, deviceId, ...fields } = msg as { type?: unknown; items?: unknown; deviceId?: unknown };
  if (deviceId !== undefined && deviceId !== session.deviceId) {
    // The token names the device; a message cannot speak for another one.
    return [{ type: 'error', code: 'device_mismatch', reason: `this connection reports for ${session.deviceId}`, ids: [] }];
  }
  let points: unknown;
  if (type === 'location') points = fields;
  else if (type === 'locations' && Array.isArray(items)) points = items;
  else
    return [
      { type: 'error', code: 'unknown_type', reason: 'type must be "location" or "locations" (with items: [...])', ids: [] },
    ];

  const parsed = (deps.parse ?? parsePoints)(points, deps.context(session.deviceId));
  const replies: DriverReply[] = parsed.refused.map((r) => ({
    type: 'error',
    code: r.reason,
    reason: r.detail,
    ids: r.pointId ? [r.pointId] : [],
    index: r.index,
  }));
  if (parsed.accepted.length === 0) return replies;
  const events = parsed.accepted.map(gpsEvent);
  // The phone's own point ids when it sent them, else the event ids (stable for a resend).
  const ids = parsed.accepted.map((p, i) => p.pointId ?? (events[i] as { id: string }).id);
  try {
    await deps.append(events);
    replies.push({ type: 'ack', ids });
  } catch (e) {
    const code = e instanceof GpsIntakeOverloadedError ? 'overloaded' : 'log_unavailable';
    replies.push({ type: 'error', code, reason: 'not stored; send these points again', ids });
  }
  return replies;
};

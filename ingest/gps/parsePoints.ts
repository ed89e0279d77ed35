import { hash } from 'node:crypto';
import type { GpsReported, GpsSource } from '../../schemas/events/gps.js';
import { REFUSAL_REASONS } from '../../schemas/messages/device.js';

// Declared with the message schemas (the event catalogue publishes them); the intake decides them.
export { REFUSAL_REASONS };
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Refusal {
  /** Position in the message (0 for a single object); null when the whole message is refused. */
  index: number | null;
  pointId?: string;
  reason: RefusalReason;
  detail: string;
}

export interface ParseContext {
  deviceId: string;
  source: GpsSource;
  /** Receive time, ms since the epoch. */
  now: number;
  maxFutureMs: number;
  maxPoints: number;
}

export interface ParsedPoints {
  accepted: GpsReported[];
  refused: Refusal[];
}

const KNOWN = new Set(['ts', 'lat', 'lon', 'speed', 'heading', 'alt', 'accuracy', 'battery', 'satellites', 'id']);
const MAX_ATTRIBUTES = 32;
const MAX_ATTRIBUTE_KEY = 64;
const MAX_ATTRIBUTE_STRING = 256;
const MAX_POINT_ID = 128;
/** Anything earlier is a broken clock or epoch seconds sent as ms (a GPS week rollover lands in 1999). */
const MIN_TS = Date.UTC(2000, 0, 1);
/** Faster than any road vehicle by a wide margin; beyond it the unit is reporting garbage. */
const MAX_SPEED_KMH = 1_000;
const ALT_RANGE: readonly [number, number] = [-12_000, 100_000];
// Date.parse alone takes "2024", "March 7" and zone-less local times; require a full ISO-8601 instant.
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const EPOCH_MS_STRING = /^\d{12,15}$/;

class PointError extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const finite = (p: Record<string, unknown>, key: string): number | undefined => {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new PointError('invalid_field', `${key} must be a number`);
  return v;
};

const required = (p: Record<string, unknown>, key: string): number => {
  const v = finite(p, key);
  if (v === undefined) throw new PointError('missing_field', `${key} is required`);
  return v;
};

const inRange = (v: number | undefined, key: string, lo: number, hi: number, reason: RefusalReason) => {
  if (v !== undefined && (v < lo || v > hi)) throw new PointError(reason, `${key} ${v} is outside [${lo}, ${hi}]`);
  return v;
};

const parseTime = (v: unknown, ctx: ParseContext): number => {
  let ts: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new PointError('invalid_time', 'ts must be a finite number');
    ts = Math.round(v);
  } else if (typeof v === 'string' && EPOCH_MS_STRING.test(v)) {
    ts = Number(v);
  } else if (typeof v === 'string' && ISO_INSTANT.test(v)) {
    ts = Date.parse(v);
    if (Number.isNaN(ts)) throw new PointError('invalid_time', `ts "${v.slice(0, 40)}" is not a valid date`);
  } else if (v === undefined || v === null) {
    throw new PointError('missing_field', 'ts is required');
  } else {
    throw new PointError('invalid_time', 'ts must be epoch ms or an ISO-8601 time with a zone');
  }
  if (ts < MIN_TS) throw new PointError('invalid_time', `ts ${ts} is before 2000-01-01 (seconds instead of ms?)`);
  if (ts > ctx.now + ctx.maxFutureMs) {
    throw new PointError('future_time', `ts is ${ts - ctx.now} ms ahead of the gateway clock (limit ${ctx.maxFutureMs})`);
  }
  return ts;
};

const parsePointId = (v: unknown): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_POINT_ID) return v;
  throw new PointError('invalid_field', `id must be a non-empty string of at most ${MAX_POINT_ID} characters or an integer`);
};

/** Unknown scalar fields, kept as they came; anything else (objects, long strings, the 33rd) is dropped. */
const attributesOf = (p: Record<string, unknown>): GpsReported['attributes'] => {
  const kept: [string, string | number | boolean][] = [];
  for (const [k, v] of Object.entries(p)) {
    if (kept.length >= MAX_ATTRIBUTES) break;
    if (KNOWN.has(k) || k.length > MAX_ATTRIBUTE_KEY) continue;
    if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) kept.push([k, v]);
    else if (typeof v === 'string' && v.length <= MAX_ATTRIBUTE_STRING) kept.push([k, v]);
  }
  // fromEntries defines own properties, so a "__proto__" key stays data instead of a prototype.
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
};

const parsePoint = (p: Record<string, unknown>, ctx: ParseContext): GpsReported => {
  const ts = parseTime(p.ts, ctx);
  const lat = inRange(required(p, 'lat'), 'lat', -90, 90, 'lat_out_of_range') as number;
  const lon = inRange(required(p, 'lon'), 'lon', -180, 180, 'lon_out_of_range') as number;
  const speed = inRange(finite(p, 'speed'), 'speed', 0, MAX_SPEED_KMH, 'speed_out_of_range');
  const heading = inRange(finite(p, 'heading'), 'heading', 0, 360, 'heading_out_of_range');
  const alt = inRange(finite(p, 'alt'), 'alt', ALT_RANGE[0], ALT_RANGE[1], 'alt_out_of_range');
  const accuracy = inRange(finite(p, 'accuracy'), 'accuracy', 0, Number.MAX_VALUE, 'accuracy_out_of_range');
  const battery = inRange(finite(p, 'battery'), 'battery', 0, 100, 'battery_out_of_range');
  const satellites = finite(p, 'satellites');
  if (satellites !== undefined && !Number.isInteger(satellites))
    throw new PointError('invalid_field', 'satellites must be an integer');
  inRange(satellites, 'satellites', 0, 255, 'satellites_out_of_range');
  const pointId = parsePointId(p.id);
  const attributes = attributesOf(p);

  const point: GpsReported = { deviceId: ctx.deviceId, ts, lat, lon, source: ctx.source, receivedAt: ctx.now };
  if (speed !== undefined) point.speed = speed;
  if (heading !== undefined) point.heading = heading;
  if (alt !== undefined) point.alt = alt;
  if (accuracy !== undefined) point.accuracy = accuracy;
  if (battery !== undefined) point.battery = battery;
  if (satellites !== undefined) point.satellites = satellites;
  if (pointId !== undefined) point.pointId = pointId;
  if (attributes !== undefined) point.attributes = attributes;
  return point;
};

/** The id a refusal can name: only a well-formed one, so the error message stays small and safe. */
const idForRefusal = (p: Record<string, unknown>): string | undefined => {
  try {
    return parsePointId(p.id);
  } catch {
    return undefined;
  }
};

/**
 * Device payload → `gps.reported` data in the gateway's units. Pure: the clock and limits come in
 * `ctx`. A payload is one JSON object or an array of them (an offline buffer); each point is
 * accepted or refused on its own, so one bad fix does not cost the rest of the buffer.
 */
export const parsePoints = (payload: unknown, ctx: ParseContext): ParsedPoints => {
  let body = payload;
  if (Buffer.isBuffer(body) || typeof body === 'string') {
    try {
      body = JSON.parse(body.toString());
    } catch (e) {
      const detail = e instanceof Error ? e.message.slice(0, 200) : 'not JSON';
      return { accepted: [], refused: [{ index: null, reason: 'malformed_json', detail }] };
    }
  }
  const items = Array.isArray(body) ? body : [body];
  if (!Array.isArray(body) && !isObject(body)) {
    return { accepted: [], refused: [{ index: null, reason: 'not_an_object', detail: 'expected a JSON object or an array' }] };
  }
  const out: ParsedPoints = { accepted: [], refused: [] };
  const n = Math.min(items.length, ctx.maxPoints);
  for (let index = 0; index < n; index++) {
    const item = items[index];
    if (!isObject(item)) {
      out.refused.push({ index, reason: 'not_an_object', detail: 'a point must be a JSON object' });
      continue;
    }
    try {
      out.accepted.push(parsePoint(item, ctx));
    } catch (e) {
      if (!(e instanceof PointError)) throw e;
      const pointId = idForRefusal(item);
      out.refused.push({ index, ...(pointId === undefined ? {} : { pointId }), reason: e.reason, detail: e.detail });
    }
  }
  if (items.length > n) {
    out.refused.push({
      index: n,
      reason: 'too_many_points',
      detail: `${items.length - n} points after the first ${n} were dropped; send at most ${n} per message`,
    });
  }
  return out;
};

/**
 * The event id of a point: a UUIDv8 (RFC 9562) from SHA-256 of (device, its message id) when the
 * device sent one, else of (device, fix time, lat, lon). A resend after a lost PUBACK therefore
 * carries the same event id, and the log's and ClickHouse's dedupe drop the copy.
 */
export const pointEventId = (deviceId: string, point: Pick<GpsReported, 'ts' | 'lat' | 'lon' | 'pointId'>): string => {
  const key =
    point.pointId !== undefined
      ? `gps\0${deviceId}\0id\0${point.pointId}`
      : `gps\0${deviceId}\0fix\0${point.ts}\0${point.lat}\0${point.lon}`;
  // One-shot hash: ~5× cheaper than createHash().update().digest() on this hot path.
  const hex = hash('sha256', key, 'hex');
  // UUID version 8 (high nibble of byte 6) and variant 10 (top bits of byte 8), as hex digits.
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  const h = `${hex.slice(0, 12)}8${hex.slice(13, 16)}${variant}${hex.slice(17, 32)}`;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

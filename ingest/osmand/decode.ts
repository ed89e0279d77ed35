import type { Refusal } from '../gps/parsePoints.js';

/**
 * How the app sent its fix: `query` (GET or POST with the fields in the URL: Traccar Client
 * before v9, OsmAnd live tracking), `form` (fields in an `application/x-www-form-urlencoded` body,
 * the URL's query empty) or `json` (Traccar Client v9+: `{ device_id, location }`).
 */
export type OsmandVariant = 'query' | 'form' | 'json';

export interface OsmandRequest {
  variant: OsmandVariant;
  /** The device token the app sent as its identifier (`id`/`deviceid`, JSON `device_id`); never stored. */
  token: string | undefined;
  /**
   * The fixes in the gateway's field names and units, ready for `parsePoints` (which validates
   * them). A field the app sent in the wrong shape is passed through as it came, so the parser
   * refuses it with its own reason code (`invalid_field`, `invalid_time`).
   */
  points: Record<string, unknown>[];
  /** The body could not be read at all (malformed JSON, no `location`): nothing else to do. */
  refusal?: Refusal;
}

/** Knots (OsmAnd `speed`) and m/s (JSON `coords.speed`) to km/h. */
export const KMH_PER_KNOT = 1.852;
export const KMH_PER_MPS = 3.6;
/** A numeric `timestamp` below this is seconds, else ms (as Traccar's OsmAnd decoder reads it). */
const SECONDS_BELOW = 2 ** 31;

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/** Fields of the query/form variant that map onto the gateway's own; everything else is an attribute. */
const QUERY_FIELDS = new Set([
  'id',
  'deviceid',
  'timestamp',
  'lat',
  'lon',
  'location',
  'speed',
  'bearing',
  'heading',
  'altitude',
  'accuracy',
  'batt',
  'satellites',
]);
/** Names `parsePoints` reads as fields: an extra parameter by one of these names would be taken for one. */
const GATEWAY_FIELDS = new Set(['ts', 'lat', 'lon', 'speed', 'heading', 'alt', 'accuracy', 'battery', 'satellites', 'id']);
const MAX_POINT_ID = 128;

const round = (v: number, decimals: number) => {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
};

/** A query-string number: absent when empty, a number when numeric, else the raw string (refused by the parser). */
const num = (v: string | undefined): number | string | undefined => {
  if (v === undefined) return undefined;
  const s = v.trim();
  if (s === '') return undefined;
  return NUMERIC.test(s) ? Number(s) : s;
};

/**
 * Speed, heading, accuracy and battery are never negative; phones send -1 for "unknown" (iOS
 * `CLLocation.speed`/`course`, the background-geolocation plugin): treated as absent, not refused.
 */
const known = (v: number | string | undefined): number | string | undefined => (typeof v === 'number' && v < 0 ? undefined : v);

const scaled = (v: number | string | undefined, factor: number, decimals: number) =>
  typeof v === 'number' ? round(v * factor, decimals) : v;

/**
 * Traccar's own date-time form (`timestamp=2014-06-04+09%3A10%3A11`), sent by older Traccar Client
 * versions and devices speaking the protocol. Traccar reads it in its server's zone; a gateway has no
 * meaningful local zone, so it is UTC (what those clients put there).
 */
const SPACED_DATE_TIME = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$/;

/**
 * `timestamp`, in each form Traccar's OsmAnd decoder reads: epoch seconds (below 2^31) or ms, as a
 * number or numeric string; ISO-8601 with a zone; `yyyy-MM-dd HH:mm:ss` (UTC). Returned as ms or
 * an ISO-8601 string for the parser, which refuses anything else with `invalid_time`.
 */
export const osmandTime = (v: unknown): unknown => {
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) < SECONDS_BELOW ? v * 1000 : v;
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (NUMERIC.test(s)) return osmandTime(Number(s));
  const spaced = SPACED_DATE_TIME.exec(s);
  if (spaced) return `${spaced[1]}T${spaced[2]}Z`;
  // An unencoded "+03:00" in a URL decodes to " 03:00".
  return s.replace(/ (\d{2}:?\d{2})$/, '+$1');
};

/** An extra parameter: `true`/`false` → boolean, a plain number → number, else the string. */
const attributeValue = (v: string): string | number | boolean => {
  if (v === 'true') return true;
  if (v === 'false') return false;
  // Leading zeros and long digit strings are identifiers (driver ids, ICCIDs), not quantities.
  if (NUMERIC.test(v) && !/^[+-]?0\d/.test(v)) {
    const n = Number(v);
    if (Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n))) return n;
  }
  return v;
};

const lastValues = (params: URLSearchParams) => {
  // A repeated parameter: the last one wins (Traccar applies each in turn).
  const out = new Map<string, string>();
  for (const [k, v] of params) out.set(k, v);
  return out;
};

/** The query/form variant: one fix in `id=&lat=&lon=&timestamp=&speed=…` parameters. */
export const decodeParams = (params: URLSearchParams, variant: 'query' | 'form', now: number): OsmandRequest => {
  const p = lastValues(params);
  const token = p.get('id') || p.get('deviceid') || undefined;
  // Null prototype: a "__proto__" parameter stays a plain (dropped or kept) key.
  const point = Object.create(null) as Record<string, unknown>;
  // No timestamp: the receive time, as Traccar does (a resend then counts as a new point).
  point.ts = p.has('timestamp') && p.get('timestamp') !== '' ? osmandTime(p.get('timestamp')) : now;
  const location = p.get('location');
  if (location !== undefined && !p.has('lat') && !p.has('lon')) {
    const [lat, lon, ...rest] = location.split(',');
    point.lat = rest.length > 0 ? location : num(lat);
    point.lon = num(lon);
  } else {
    point.lat = num(p.get('lat'));
    point.lon = num(p.get('lon'));
  }
  const optional: [string, number | string | undefined][] = [
    ['speed', scaled(known(num(p.get('speed'))), KMH_PER_KNOT, 3)],
    ['heading', known(num(p.get('bearing') ?? p.get('heading')))],
    ['alt', num(p.get('altitude'))],
    ['accuracy', known(num(p.get('accuracy')))],
    ['battery', known(num(p.get('batt')))],
    ['satellites', num(p.get('satellites'))],
  ];
  for (const [k, v] of optional) if (v !== undefined) point[k] = v;
  for (const [k, v] of p) {
    if (QUERY_FIELDS.has(k) || GATEWAY_FIELDS.has(k)) continue;
    point[k] = attributeValue(v);
  }
  return { variant, token, points: [point] };
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const finiteOrRaw = (v: unknown): number | string | undefined =>
  v === undefined || v === null ? undefined : typeof v === 'number' ? v : String(v).slice(0, 64);

const isScalar = (v: unknown): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/**
 * One location of the JSON variant (the background-geolocation plugin's record) → a gateway point.
 * Attributes take Traccar's names: `motion` (is_moving), `odometer` (m), `charge` (is_charging),
 * `event`, `activity` (its type), `mock`, plus the scalars of `extras`.
 */
const jsonPoint = (location: Record<string, unknown>): Record<string, unknown> => {
  const point = Object.create(null) as Record<string, unknown>;
  point.ts = osmandTime(location.timestamp);
  const coords = isObject(location.coords) ? location.coords : {};
  point.lat = coords.latitude;
  point.lon = coords.longitude;
  const battery = isObject(location.battery) ? location.battery : {};
  const level = known(finiteOrRaw(battery.level));
  const optional: [string, unknown][] = [
    ['speed', scaled(known(finiteOrRaw(coords.speed)), KMH_PER_MPS, 3)],
    ['heading', known(finiteOrRaw(coords.heading))],
    ['alt', finiteOrRaw(coords.altitude)],
    ['accuracy', known(finiteOrRaw(coords.accuracy))],
    ['battery', typeof level === 'number' ? round(level * 100, 1) : level],
  ];
  for (const [k, v] of optional) if (v !== undefined) point[k] = v;
  // The plugin's record id: a resend of the same record is the same event.
  if (typeof location.uuid === 'string' && location.uuid.length > 0 && location.uuid.length <= MAX_POINT_ID) {
    point.id = location.uuid;
  }
  const attributes: [string, unknown][] = [
    ['motion', location.is_moving],
    ['odometer', location.odometer],
    ['charge', battery.is_charging],
    ['event', location.event],
    ['activity', isObject(location.activity) ? location.activity.type : undefined],
    ['mock', location.mock],
  ];
  for (const [k, v] of attributes) if (isScalar(v)) point[k] = v;
  if (isObject(location.extras)) {
    for (const [k, v] of Object.entries(location.extras)) {
      if (!(k in point) && !GATEWAY_FIELDS.has(k) && isScalar(v)) point[k] = v;
    }
  }
  return point;
};

/** The JSON variant: `{ device_id, location: {…} }` (or `location: [...]`, the plugin's batch sync). */
export const decodeJson = (body: string): OsmandRequest => {
  let root: unknown;
  try {
    root = JSON.parse(body);
  } catch (e) {
    const detail = e instanceof Error ? e.message.slice(0, 200) : 'not JSON';
    return { variant: 'json', token: undefined, points: [], refusal: { index: null, reason: 'malformed_json', detail } };
  }
  if (!isObject(root)) {
    const refusal: Refusal = { index: null, reason: 'not_an_object', detail: 'expected { "device_id", "location" }' };
    return { variant: 'json', token: undefined, points: [], refusal };
  }
  const id = root.device_id;
  const token = typeof id === 'string' && id !== '' ? id : typeof id === 'number' ? String(id) : undefined;
  const { location } = root;
  if (isObject(location)) return { variant: 'json', token, points: [jsonPoint(location)] };
  if (Array.isArray(location) && location.length > 0) {
    return { variant: 'json', token, points: location.map((l) => (isObject(l) ? jsonPoint(l) : (l as Record<string, unknown>))) };
  }
  const refusal: Refusal = { index: null, reason: 'missing_field', detail: 'location is required (an object)' };
  return { variant: 'json', token, points: [], refusal };
};

/**
 * Which variant a request is and what it says. Like Traccar: a JSON content type (or a body that
 * is a JSON object) is the JSON variant; else the URL's query, or the body as a form when the
 * query is empty.
 */
export const decodeOsmand = (req: { query: string; contentType: string | undefined; body: Buffer }, now: number) => {
  const type = req.contentType?.split(';')[0]?.trim().toLowerCase();
  const query = new URLSearchParams(req.query);
  const queryEmpty = query.keys().next().done === true;
  if (type === 'application/json') return decodeJson(req.body.toString('utf8'));
  if (!queryEmpty) return decodeParams(query, 'query', now);
  const body = req.body.toString('utf8');
  if (/^\s*[{[]/.test(body)) return decodeJson(body);
  return decodeParams(new URLSearchParams(body.trim()), 'form', now);
};

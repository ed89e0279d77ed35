/** OsmAnd / Traccar Client intake: requests as the apps send them, units, the token-as-id rule, answers. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { type DeviceRegistry, deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { decodeOsmand } from '../../ingest/osmand/decode.js';
import { type OsmandIngest, startOsmandIngest } from '../../ingest/osmand/server.js';
import { GatewayError } from '../../schemas/errors.js';
import type { GpsReported } from '../../schemas/events/gps.js';
import { freshPglite } from '../support/stores.js';
import { counter, gpsEvents } from './harness.js';

/** The log as the next appends see it: fine, down, or holding every append until released. */
let mode: 'ok' | 'down' | 'held' = 'ok';
let release: () => void = () => {};
const flaky = (log: EventLog): EventLog => ({
  ...log,
  append: async (subject, events, opts) => {
    if (mode === 'down') throw new GatewayError('GW_ERR_LOG_UNAVAILABLE', 'log down (test)');
    if (mode === 'held') await new Promise<void>((r) => (release = r));
    return log.append(subject, events, opts);
  },
});

let store: PostgresStore;
let log: EventLog;
let devices: DeviceRegistry;
let ingest: OsmandIngest;
let base: string;
let token: string;

beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
  devices = deviceRegistry(store.sql);
  token = (await devices.create({ id: 'phone-1', kind: 'phone', driverId: 'drv-1' })).token;
  ingest = await startOsmandIngest({
    config: loadConfig({ GPS_BATCH_MAX_MS: '5' }),
    log: flaky(log),
    devices,
    logger: silentLogger(),
    host: '127.0.0.1',
    port: 0,
  });
  base = `http://127.0.0.1:${ingest.port}`;
}, 60_000);
afterAll(async () => {
  mode = 'ok';
  await ingest?.close();
  await log?.close();
  await store?.close();
});
beforeEach(() => {
  mode = 'ok';
});

const points = async () => (await gpsEvents(log)).map((e: EventEnvelope<GpsReported>) => e.data);
/** The stored point whose fix time is `ts` (every test uses its own times). */
const pointAt = async (ts: number) => (await points()).filter((p) => p.ts === ts);
const secondsAgo = (s: number) => Math.floor(Date.now() / 1000) - s;
const form = (fields: Record<string, string | number>) =>
  new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString();

/** What the background-geolocation plugin of Traccar Client v9+ posts (one location record). */
const jsonLocation = (deviceId: string, over: Record<string, unknown> = {}, coords: Record<string, unknown> = {}) => ({
  location: {
    event: 'motionchange',
    is_moving: true,
    uuid: `rec-${Math.random().toString(36).slice(2)}`,
    timestamp: new Date(Date.now() - 60_000).toISOString(),
    odometer: 12_345.6,
    coords: {
      latitude: 55.7512,
      longitude: 37.6184,
      accuracy: 4.8,
      speed: 10,
      speed_accuracy: 0.5,
      heading: 271.5,
      heading_accuracy: 10,
      altitude: 151.3,
      altitude_accuracy: 3,
      ...coords,
    },
    activity: { type: 'in_vehicle', confidence: 90 },
    battery: { is_charging: false, level: 0.87 },
    extras: {},
    ...over,
  },
  device_id: deviceId,
});
const postJson = (body: unknown) =>
  fetch(`${base}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('OsmAnd query and form variants', () => {
  it('takes a Traccar Client (Android) POST with the fields in the query: knots → km/h, seconds → ms', async () => {
    const t = secondsAgo(30);
    const q = form({
      id: token,
      timestamp: t,
      lat: 55.7558,
      lon: 37.6173,
      speed: 10,
      bearing: 90.5,
      altitude: 144,
      accuracy: 12,
      batt: 87.5,
      charge: 'true',
    });
    const res = await fetch(`${base}/?${q}`, { method: 'POST' });
    expect(res.status).toBe(200);
    const [p, ...more] = await pointAt(t * 1000);
    expect(more).toHaveLength(0);
    expect(p).toMatchObject({
      deviceId: 'phone-1',
      source: 'osmand',
      ts: t * 1000,
      lat: 55.7558,
      lon: 37.6173,
      speed: 18.52,
      heading: 90.5,
      alt: 144,
      accuracy: 12,
      battery: 87.5,
      attributes: { charge: true },
    });
    // The token is the credential: it is never stored with the point.
    expect(JSON.stringify(await points())).not.toContain(token);
  });

  it('takes a GET as OsmAnd sends it, a timestamp in ms and extra parameters as typed attributes', async () => {
    const t = Date.now() - 45_000;
    const q = form({ id: token, lat: 59.93, lon: 30.31, timestamp: t, hdop: 0.9, ignition: 'true', driverUniqueId: '007' });
    const res = await fetch(`${base}/?${q}`);
    expect(res.status).toBe(200);
    const [p] = await pointAt(t);
    expect(p).toMatchObject({ deviceId: 'phone-1', lat: 59.93, lon: 30.31 });
    expect(p?.attributes).toEqual({ hdop: 0.9, ignition: true, driverUniqueId: '007' });
  });

  it('reads a form body when the query is empty: deviceid, location=lat,lon and an ISO-8601 time', async () => {
    const t = Date.now() - 50_000 - ((Date.now() - 50_000) % 1000);
    const body = form({ deviceid: token, location: '48.8584,2.2945', timestamp: new Date(t).toISOString(), speed: 0 });
    const res = await fetch(`${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(res.status).toBe(200);
    const [p] = await pointAt(t);
    expect(p).toMatchObject({ deviceId: 'phone-1', lat: 48.8584, lon: 2.2945, speed: 0 });
  });

  it('takes the fix time as a timestamp below 2^31 in seconds and above it in ms', async () => {
    const seconds = secondsAgo(70);
    const ms = (seconds - 1) * 1000 + 250;
    for (const timestamp of [seconds, ms]) {
      const res = await fetch(`${base}/?${form({ id: token, lat: 1.5, lon: 2.5, timestamp })}`);
      expect(res.status).toBe(200);
    }
    expect(await pointAt(seconds * 1000)).toHaveLength(1);
    expect(await pointAt(ms)).toHaveLength(1);
  });

  it('refuses a bad point with 400 and the parser reason, and appends nothing', async () => {
    const t = secondsAgo(80);
    const before = await counter('fleetgate_gps_points_refused_total', { source: 'osmand', reason: 'lat_out_of_range' });
    const res = await fetch(`${base}/?${form({ id: token, lat: 91, lon: 37.6, timestamp: t })}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ reason: 'lat_out_of_range' });
    const notNumber = await fetch(`${base}/?${form({ id: token, lat: 'abc', lon: 37.6, timestamp: t })}`);
    expect(notNumber.status).toBe(400);
    expect(await notNumber.json()).toMatchObject({ reason: 'invalid_field' });
    expect(await pointAt(t * 1000)).toHaveLength(0);
    expect(await counter('fleetgate_gps_points_refused_total', { source: 'osmand', reason: 'lat_out_of_range' })).toBe(
      before + 1,
    );
  });
});

describe('OsmAnd JSON variant (Traccar Client v9+)', () => {
  it('lands with m/s → km/h, battery level 0..1 → %, the record uuid as point id, and Traccar attribute names', async () => {
    const body = jsonLocation(token);
    const res = await postJson(body);
    expect(res.status).toBe(200);
    const t = Date.parse(body.location.timestamp);
    const [p] = await pointAt(t);
    expect(p).toMatchObject({
      deviceId: 'phone-1',
      source: 'osmand',
      lat: 55.7512,
      lon: 37.6184,
      speed: 36,
      heading: 271.5,
      alt: 151.3,
      accuracy: 4.8,
      battery: 87,
      pointId: body.location.uuid,
      attributes: { motion: true, odometer: 12_345.6, charge: false, event: 'motionchange', activity: 'in_vehicle' },
    });
  });

  it('treats -1 speed, heading and battery (unknown, as iOS reports them) as absent, and takes ms timestamps', async () => {
    const t = Date.now() - 90_000;
    const res = await postJson(
      jsonLocation(token, { timestamp: t, battery: { level: -1, is_charging: true } }, { speed: -1, heading: -1 }),
    );
    expect(res.status).toBe(200);
    const [p] = await pointAt(t);
    expect(p).toBeDefined();
    expect(p).not.toHaveProperty('speed');
    expect(p).not.toHaveProperty('heading');
    expect(p).not.toHaveProperty('battery');
    expect(p?.attributes).toMatchObject({ charge: true });
  });

  it('answers a resend of the same record 200 and stores it once', async () => {
    const body = jsonLocation(token);
    expect((await postJson(body)).status).toBe(200);
    expect((await postJson(body)).status).toBe(200);
    const stored = (await gpsEvents(log)).filter((e) => e.data.pointId === body.location.uuid);
    expect(new Set(stored.map((e) => e.id)).size).toBe(1);
  });

  it('refuses a bad coordinate with 400 and its reason', async () => {
    const body = jsonLocation(token, {}, { longitude: 181 });
    const res = await postJson(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ reason: 'lon_out_of_range' });
    expect(await pointAt(Date.parse(body.location.timestamp))).toHaveLength(0);
  });
});

describe('the id is the device token', () => {
  it('refuses the public device id, a guessed token and a disabled device; nothing is appended; each is counted', async () => {
    const other = await devices.create({ id: 'phone-off', kind: 'phone' });
    await devices.setDisabled('phone-off', true);
    const before = await counter('fleetgate_osmand_refusals_total', { reason: 'unknown_device' });
    const stored = (await points()).length;
    const t = secondsAgo(100);
    const guessed = `fgd_${'A'.repeat(43)}`;
    for (const id of ['phone-1', guessed, other.token]) {
      const res = await fetch(`${base}/?${form({ id, lat: 55, lon: 37, timestamp: t })}`, { method: 'POST' });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ reason: 'unknown_device' });
      const json = await postJson(jsonLocation(id));
      expect(json.status).toBe(404);
      expect(await json.json()).toMatchObject({ reason: 'unknown_device' });
    }
    expect((await fetch(`${base}/?${form({ lat: 55, lon: 37, timestamp: t })}`)).status).toBe(400);
    expect((await points()).length).toBe(stored);
    expect(await counter('fleetgate_osmand_refusals_total', { reason: 'unknown_device' })).toBe(before + 6);
  });
});

describe('answers', () => {
  it('answers 200 only once the append is durable', async () => {
    mode = 'held';
    const t = secondsAgo(110);
    let answered = false;
    const pending = fetch(`${base}/?${form({ id: token, lat: 10, lon: 20, timestamp: t })}`).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(false);
    expect(await pointAt(t * 1000)).toHaveLength(0);
    mode = 'ok';
    release();
    expect((await pending).status).toBe(200);
    expect(await pointAt(t * 1000)).toHaveLength(1);
  });

  it('answers 503 with Retry-After when the log is down, and nothing is acknowledged or stored', async () => {
    mode = 'down';
    const t = secondsAgo(120);
    const before = await counter('fleetgate_osmand_refusals_total', { reason: 'log_unavailable' });
    const res = await fetch(`${base}/?${form({ id: token, lat: 11, lon: 21, timestamp: t })}`, { method: 'POST' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({ reason: 'log_unavailable' });
    const json = await postJson(jsonLocation(token, { timestamp: t * 1000 }));
    expect(json.status).toBe(503);
    expect(await pointAt(t * 1000)).toHaveLength(0);
    expect(await counter('fleetgate_osmand_refusals_total', { reason: 'log_unavailable' })).toBe(before + 2);
    // The app resends once the log is back.
    mode = 'ok';
    expect((await fetch(`${base}/?${form({ id: token, lat: 11, lon: 21, timestamp: t })}`)).status).toBe(200);
    expect(await pointAt(t * 1000)).toHaveLength(1);
  });

  it('answers 413 to a body over 64 KiB and 400 to malformed JSON', async () => {
    const big = await fetch(`${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `id=${token}&lat=1&lon=2&pad=${'x'.repeat(70_000)}`,
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ reason: 'body_too_large' });
    const bad = await fetch(`${base}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"device_id":',
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ reason: 'malformed_json' });
  });
});

describe('decodeOsmand (pure)', () => {
  const NOW = Date.UTC(2025, 0, 2, 3, 4, 5);
  const query = (q: string) => decodeOsmand({ query: q, contentType: undefined, body: Buffer.alloc(0) }, NOW);

  it('maps fields, keeps the token out of the point, and leaves names the parser reads to the parser', () => {
    const d = query('id=tok&lat=1&lon=2&ts=5&battery=7&alt=9&deviceid=other&__proto__=x&iccid=89701010012345678901');
    expect(d).toMatchObject({ variant: 'query', token: 'tok' });
    const [p] = d.points;
    expect(Object.entries(p ?? {})).toEqual([
      ['ts', NOW],
      ['lat', 1],
      ['lon', 2],
      ['__proto__', 'x'],
      ['iccid', '89701010012345678901'],
    ]);
  });

  it('reads timestamps: fractional seconds, ms, ISO with a "+" that the URL turned into a space, Traccar\'s "yyyy-MM-dd HH:mm:ss" as UTC', () => {
    expect(query('id=t&lat=1&lon=2&timestamp=1700000000.25').points[0]?.ts).toBe(1_700_000_000_250);
    expect(query('id=t&lat=1&lon=2&timestamp=1700000000250').points[0]?.ts).toBe(1_700_000_000_250);
    expect(query('id=t&lat=1&lon=2&timestamp=2024-05-01T10:00:00+03:00').points[0]?.ts).toBe('2024-05-01T10:00:00+03:00');
    expect(query('id=t&lat=1&lon=2&timestamp=2014-06-04+09%3A10%3A11').points[0]?.ts).toBe('2014-06-04T09:10:11Z');
    expect(query('id=t&lat=1&lon=2&timestamp=2014-06-04%2009:10:11').points[0]?.ts).toBe('2014-06-04T09:10:11Z');
    // A date and time without a zone in ISO form is not one of Traccar's: left for the parser to refuse.
    expect(query('id=t&lat=1&lon=2&timestamp=2014-06-04T09:10:11').points[0]?.ts).toBe('2014-06-04T09:10:11');
  });

  it('passes a malformed value through so the parser refuses it with its reason', () => {
    expect(query('id=t&location=1,2,3&timestamp=1').points[0]).toMatchObject({ lat: '1,2,3' });
    expect(query('id=t&lat=1&lon=2&speed=fast').points[0]).toMatchObject({ speed: 'fast' });
  });

  it('takes a JSON body without a JSON content type, and a batch of locations', () => {
    const body = Buffer.from(JSON.stringify({ device_id: 'tok', location: [{ timestamp: 1 }, { timestamp: 2 }] }));
    const d = decodeOsmand({ query: '', contentType: 'text/plain', body }, NOW);
    expect(d).toMatchObject({ variant: 'json', token: 'tok' });
    expect(d.points.map((p) => p.ts)).toEqual([1000, 2000]);
  });
});

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vehicleRoutes } from '../../api/routes/vehicles.js';
import { silentLogger } from '../../core/logger.js';
import { appendRecordEvents, upsertedEvent } from '../../core/records/events.js';
import { type ProjectionRunner, rebuildProjection } from '../../core/runners/projectionRunner.js';
import { vehiclePositionsProjection } from '../../projections/vehiclePositions.js';
import type { Track, TrackFeature, VehiclePosition } from '../../schemas/http/vehicles.js';
import type { ApiHarness } from '../support/apiServer.js';
import { aPoint, appendPoints, gpsTrackingRunner, migrateClickHouse, openTestChdb, T0 } from '../support/gps.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';

let ch: Awaited<ReturnType<typeof openTestChdb>>;
let pg: Awaited<ReturnType<typeof freshPglite>>;
let api: ApiHarness;
let tracking: ProjectionRunner;
let key: string;
const NOW = Date.now();
/** bus-1 drives north for 50 fixes, 10 s apart (its track); its newest fix is 30 s old. */
const track = Array.from({ length: 50 }, (_, i) =>
  aPoint('bus-1', T0 + i * 10_000, { lat: 55 + i * 0.001, lon: 37 + i * 0.0005 }),
);

beforeAll(async () => {
  [ch, pg] = await Promise.all([openTestChdb(), freshPglite()]);
  await migrateClickHouse(pg, ch.store);
  api = await startRoutes(pg, (deps) => vehicleRoutes({ ...deps, clickhouse: ch.client }), { GPS_OFFLINE_AFTER: '300' });
  tracking = gpsTrackingRunner({ log: api.log, sql: pg.sql, clickhouse: ch.client, config: api.config });
  await tracking.start();
  key = await api.key(['vehicles']);

  await appendPoints(api.log, track.slice(0, 25));
  await appendPoints(api.log, track.slice(25));
  await appendPoints(api.log, [track[3], track[40]] as typeof track); // resent after a reconnect
  await appendPoints(api.log, [aPoint('bus-1', NOW - 30_000, { lat: 56, lon: 38, speed: 12.5, heading: 90, battery: 77 })]);
  await appendPoints(api.log, [aPoint('bus-2', T0, { source: 'osmand' })]);
  // The CRM's records name bus-1's vehicle and driver; bus-2 and bus-3 have none.
  await appendRecordEvents(api.log, 'drivers', [upsertedEvent('drivers', { id: 'd1', version: 1, name: 'Иван Петров' }, 'crm')]);
  await appendRecordEvents(api.log, 'vehicles', [
    upsertedEvent('vehicles', { id: 'v1', version: 1, plate: 'А123ВС77', driverId: 'd1', gpsDeviceIds: ['bus-1'] }, 'crm'),
  ]);
  // bus-3 flushes an offline buffer after its live fix: the older points must not win.
  await appendPoints(api.log, [aPoint('bus-3', NOW - 60_000, { lat: 50 })]);
  await appendPoints(api.log, [aPoint('bus-3', NOW - 600_000, { lat: 51 }), aPoint('bus-3', NOW - 500_000, { lat: 52 })]);
  await api.caughtUp();
  await tracking.caughtUp(10_000);
}, 120_000);
afterAll(async () => {
  await tracking?.stop();
  await api?.close();
  await pg?.close();
  await ch?.close();
});

const get = (path: string, as = key) => fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${as}` } });
const positions = async (query = '') => {
  const res = await get(`/api/v1/vehicles/positions${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { positions: VehiclePosition[] }).positions;
};
const problem = async (res: Response) => ({
  status: res.status,
  ...((await res.json()) as { code: string; errors?: { field: string }[] }),
});

describe('GET /api/v1/vehicles/positions', () => {
  it('answers the newest fix of every vehicle with online computed from GPS_OFFLINE_AFTER', async () => {
    const all = await positions();
    expect(all.map((p) => p.deviceId)).toEqual(['bus-1', 'bus-2', 'bus-3']);
    expect(all[0]).toEqual({
      deviceId: 'bus-1',
      ts: NOW - 30_000,
      lat: 56,
      lon: 38,
      speed: 12.5,
      heading: 90,
      alt: null,
      accuracy: null,
      battery: 77,
      source: 'mqtt',
      receivedAt: NOW - 30_000 + 400,
      online: true,
      plate: 'А123ВС77',
      driverName: 'Иван Петров',
    });
    expect(all[1]).toMatchObject({ deviceId: 'bus-2', ts: T0, source: 'osmand', online: false, plate: null, driverName: null });
    expect(all[2]).toMatchObject({ deviceId: 'bus-3', ts: NOW - 60_000, lat: 50, online: true });
  });

  it('filters by ids and by since (ms or ISO-8601)', async () => {
    expect((await positions('?ids=bus-3,bus-1,nope')).map((p) => p.deviceId)).toEqual(['bus-1', 'bus-3']);
    const since = NOW - 3_600_000;
    expect((await positions(`?since=${since}`)).map((p) => p.deviceId)).toEqual(['bus-1', 'bus-3']);
    expect((await positions(`?since=${new Date(since).toISOString()}&ids=bus-2,bus-3`)).map((p) => p.deviceId)).toEqual([
      'bus-3',
    ]);
  });

  it('refuses a bad since or ids (400 naming the field), a missing key (401) and another scope (403)', async () => {
    expect(await problem(await get('/api/v1/vehicles/positions?since=yesterday'))).toMatchObject({
      status: 400,
      errors: [{ field: 'since' }],
    });
    expect((await problem(await get('/api/v1/vehicles/positions?ids=a/b'))).errors?.[0]?.field).toBe('ids');
    expect((await get('/api/v1/vehicles/positions', '')).status).toBe(401);
    expect((await get('/api/v1/vehicles/positions', await api.key(['sms']))).status).toBe(403);
  });

  it('a rebuild of vehicle_positions equals the live read model', async () => {
    const live = await positions();
    await rebuildProjection({
      log: api.log,
      sql: pg.sql,
      projection: vehiclePositionsProjection,
      logger: silentLogger(),
      batchSize: 3,
      batchDelayMs: 0,
    });
    expect(await positions()).toEqual(live);
  });
});

describe('GET /api/v1/vehicles/{deviceId}/track', () => {
  const range = `from=${T0}&to=${new Date(T0 + 600_000).toISOString()}`;

  it('answers every point once, in time order, with its fields', async () => {
    const res = await get(`/api/v1/vehicles/bus-1/track?${range}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Track;
    expect(body.deviceId).toBe('bus-1');
    expect(body.points.map((p) => p.ts)).toEqual(track.map((p) => p.data.ts));
    expect(body.points[1]).toEqual({
      ts: T0 + 10_000,
      lat: 55.001,
      lon: 37.0005,
      speed: 30,
      heading: null,
      alt: null,
      accuracy: null,
      battery: null,
      source: 'mqtt',
    });
  });

  it('downsamples in ClickHouse with maxPoints, keeping the first and the last point', async () => {
    // Evenly spread: the first point at or after each k * 49 / 4, k = 0..4.
    const body = (await (await get(`/api/v1/vehicles/bus-1/track?${range}&maxPoints=5`)).json()) as Track;
    expect(body.points.map((p) => p.ts)).toEqual([0, 13, 25, 37, 49].map((i) => T0 + i * 10_000));
    const two = (await (await get(`/api/v1/vehicles/bus-1/track?${range}&maxPoints=2`)).json()) as Track;
    expect(two.points.map((p) => p.ts)).toEqual([T0, T0 + 490_000]);
    const more = (await (await get(`/api/v1/vehicles/bus-1/track?${range}&maxPoints=1000`)).json()) as Track;
    expect(more.points).toHaveLength(50);
  });

  it('answers a GeoJSON Feature with [lon, lat] coordinates and the times', async () => {
    const res = await get(`/api/v1/vehicles/bus-1/track?${range}&format=geojson&maxPoints=3`);
    expect(res.headers.get('content-type')).toBe('application/geo+json');
    const feature = (await res.json()) as TrackFeature;
    expect(feature).toEqual({
      type: 'Feature',
      geometry: {
        type: 'LineString',
        coordinates: [
          [37, 55],
          [37.0125, 55.025],
          [37.0245, 55.049],
        ],
      },
      properties: { deviceId: 'bus-1', times: [T0, T0 + 250_000, T0 + 490_000] },
    });
  });

  it('answers GPX 1.1 that GPX readers take: one segment, lat/lon, time, speed in m/s', async () => {
    const res = await get(`/api/v1/vehicles/bus-1/track?${range}&format=gpx&maxPoints=3`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gpx+xml');
    const text = await res.text();
    expect(XMLValidator.validate(text)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseAttributeValue: true }).parse(text);
    expect(doc.gpx['@version']).toBe(1.1); // parseAttributeValue reads numbers
    expect(doc.gpx['@xmlns']).toBe('http://www.topografix.com/GPX/1/1');
    expect(doc.gpx.trk.name).toBe('bus-1');
    const pts = doc.gpx.trk.trkseg.trkpt as Record<string, unknown>[];
    expect(pts.map((p) => [p['@lat'], p['@lon'], p.time])).toEqual([
      [55, 37, new Date(T0).toISOString()],
      [55.025, 37.0125, new Date(T0 + 250_000).toISOString()],
      [55.049, 37.0245, new Date(T0 + 490_000).toISOString()],
    ]);
    // 30 km/h; no heading, no altitude in these fixes, so no course and no <ele>.
    expect(pts[0]).toMatchObject({ extensions: { 'gpxtpx:TrackPointExtension': { 'gpxtpx:speed': 8.333 } } });
    expect(pts[0]).not.toHaveProperty('ele');
    const empty = await (await get(`/api/v1/vehicles/bus-9/track?${range}&format=gpx`)).text();
    expect(XMLValidator.validate(empty)).toBe(true);
    expect(empty).not.toContain('<trkpt');
    expect(empty).toContain('<name>bus-9</name>');
  });

  it('answers an empty track for a quiet vehicle, and refuses bad ranges with 400', async () => {
    const empty = (await (await get(`/api/v1/vehicles/bus-9/track?${range}`)).json()) as Track;
    expect(empty).toEqual({ deviceId: 'bus-9', points: [] });
    const bad = async (q: string) => problem(await get(`/api/v1/vehicles/bus-1/track?${q}`));
    expect(await bad(`from=${T0}&to=${T0}`)).toMatchObject({ status: 400, errors: [{ field: 'to' }] });
    expect(await bad(`from=${T0}&to=${T0 + 32 * 86_400_000}`)).toMatchObject({ status: 400, errors: [{ field: 'to' }] });
    expect(await bad(`from=soon&to=${T0}`)).toMatchObject({ status: 400, errors: [{ field: 'from' }] });
    expect((await bad(`to=${T0}`)).status).toBe(400);
    expect((await bad(`${range}&maxPoints=1`)).status).toBe(400);
    expect((await bad(`${range}&format=kml`)).status).toBe(400);
  });
});

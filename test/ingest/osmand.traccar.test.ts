/**
 * Every request of Traccar's own OsmAnd decoder tests (traccar/traccar
 * `src/test/java/org/traccar/protocol/OsmAndProtocolDecoderTest.java`, read at 9e5c458) that
 * Traccar turns into a position with coordinates: each is accepted here with a device token in
 * place of Traccar's device id, and stored with the fix time Traccar reads from it. Traccar reads
 * `yyyy-MM-dd HH:mm:ss` in its server's zone; the gateway reads it as UTC.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type OsmandIngest, startOsmandIngest } from '../../ingest/osmand/server.js';
import { freshPglite } from '../support/stores.js';
import { gpsEvents } from './harness.js';

interface TraccarCase {
  /** The device id in Traccar's request, replaced by a device token. */
  traccarId: string;
  /** Query requests: Traccar's URI as written. JSON requests: the POSTed body as written. */
  uri?: string;
  json?: string;
  /** The fix time Traccar reads (ms); `null`: none sent, so the receive time. */
  ts: number | null;
  lat: number;
  lon: number;
}

const JSON_CASES: TraccarCase[] = [
  {
    traccarId: '48241179',
    json: '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}',
    ts: Date.UTC(2025, 5, 15, 13, 45, 12, 862),
    lat: 37.4219983,
    lon: -122.084,
  },
  {
    traccarId: '48241179',
    json: '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{"device_string_test":"long_device_id","device_bool_test":true,"device_bool_false_test":false,"device_integer_test":1,"device_integer_twelve_test":12,"device_double_test":1.345,"device_very_long_double_test":1763636.3442},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}',
    ts: Date.UTC(2025, 5, 15, 13, 45, 12, 862),
    lat: 37.4219983,
    lon: -122.084,
  },
  {
    traccarId: '658765',
    json: '{"location":{"extras":{},"mock":true,"coords":{"speed_accuracy":-1,"speed":-1,"longitude":-122.406417,"ellipsoidal_altitude":0,"floor":null,"heading_accuracy":-1,"latitude":37.785834000000001,"accuracy":5,"altitude_accuracy":-1,"altitude":0,"heading":-1},"is_moving":false,"age":188,"odometer":0,"uuid":"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8","event":"motionchange","battery":{"level":-1,"is_charging":false},"activity":{"type":"unknown","confidence":100},"timestamp":"2025-05-09T04:11:30.579Z"},"device_id":"658765"}',
    ts: Date.UTC(2025, 4, 9, 4, 11, 30, 579),
    lat: 37.785834,
    lon: -122.406417,
  },
  {
    traccarId: '8737767034',
    json: '{"location":{"event":"motionchange","is_moving":false,"uuid":"0e9a2473-a9a7-4c00-997b-fb97d2154e75","timestamp":"2021-07-21T08:06:34.444Z","odometer":0,"coords":{"latitude":-6.1148096,"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"speed_accuracy":0.26,"heading":63,"heading_accuracy":0.28,"altitude":35.7,"altitude_accuracy":3.8},"activity":{"type":"still","confidence":100},"battery":{"is_charging":false,"level":0.79},"extras":{}},"device_id":"8737767034"}',
    ts: Date.UTC(2021, 6, 21, 8, 6, 34, 444),
    lat: -6.1148096,
    lon: 106.6837015,
  },
];

const QUERY_CASES: TraccarCase[] = [
  {
    traccarId: '902064',
    uri: '/?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0',
    ts: Date.UTC(2016, 0, 27, 18, 55, 47),
    lat: 42.06288,
    lon: -88.23412,
  },
  {
    traccarId: '902064',
    uri: '/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0',
    ts: 1_442_068_686_579,
    lat: 42.06288,
    lon: -88.23412,
  },
  {
    traccarId: '353861053849681',
    uri: '/?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681',
    ts: Date.UTC(2014, 5, 4, 9, 10, 11),
    lat: 49.60688,
    lon: 6.15788,
  },
  {
    traccarId: '123456',
    uri: '/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0',
    ts: 1_377_177_267_000,
    lat: 60,
    lon: 30,
  },
  { traccarId: '123456', uri: '/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0', ts: 1_377_177_267_000, lat: 60, lon: 30 },
  {
    traccarId: '123456',
    uri: '/?lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456',
    ts: null,
    lat: 60,
    lon: 30,
  },
  {
    traccarId: '861001000719969',
    uri: '/?id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87',
    ts: null,
    lat: 41.666667,
    lon: -0.883333,
  },
  { traccarId: '123456', uri: '/?id=123456&timestamp=1377177267&location=60.0,30.0', ts: 1_377_177_267_000, lat: 60, lon: 30 },
  {
    traccarId: '123456789012345',
    uri: '/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24',
    ts: 1_504_763_810_000,
    lat: 40.7232948571,
    lon: -74.0061408571,
  },
];
// Left out, as Traccar gives them no coordinates of their own: `/?id=123456&timestamp=1377177267&cell=…&wifi=…`
// (Traccar stores the device's last known location) and `/?timestamp=1377177267&lat=60.0&lon=30.0` (no id: refused).

let store: PostgresStore;
let log: EventLog;
let ingest: OsmandIngest;
let base: string;
const tokens = new Map<string, string>();
const deviceOf = (traccarId: string) => `traccar-${traccarId}`;

beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
  const devices = deviceRegistry(store.sql);
  for (const c of [...JSON_CASES, ...QUERY_CASES]) {
    if (!tokens.has(c.traccarId))
      tokens.set(c.traccarId, (await devices.create({ id: deviceOf(c.traccarId), kind: 'phone' })).token);
  }
  ingest = await startOsmandIngest({
    config: loadConfig({ GPS_BATCH_MAX_MS: '5' }),
    log,
    devices,
    logger: silentLogger(),
    host: '127.0.0.1',
    port: 0,
  });
  base = `http://127.0.0.1:${ingest.port}`;
}, 60_000);
afterAll(async () => {
  await ingest?.close();
  await log?.close();
  await store?.close();
});

/** Traccar's request with the device token where Traccar has its device id. */
const send = (c: TraccarCase) => {
  const token = tokens.get(c.traccarId) ?? '';
  if (c.json !== undefined) {
    const body = c.json.replace(`"device_id":"${c.traccarId}"`, JSON.stringify({ device_id: token }).slice(1, -1));
    expect(body).toContain(token);
    return fetch(`${base}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  }
  const uri = (c.uri ?? '').replace(new RegExp(`\\b(id|deviceid)=${c.traccarId}\\b`), `$1=${encodeURIComponent(token)}`);
  expect(uri).toContain(encodeURIComponent(token));
  // Traccar's tests request the URI with GET; the Android client POSTs it: both are answered alike.
  return fetch(`${base}${uri}`, { method: 'POST' });
};

describe("Traccar's OsmAnd decoder test requests", () => {
  it.each([...JSON_CASES.map((c) => ['json', c] as const), ...QUERY_CASES.map((c) => ['query', c.uri, c] as const)])(
    'accepts %s %s',
    async (...args) => {
      const c = args.at(-1) as TraccarCase;
      const before = Date.now();
      const res = await send(c);
      const answer = await res.text();
      expect({ status: res.status, answer }).toEqual({ status: 200, answer: expect.any(String) });
      const after = Date.now();
      const stored = (await gpsEvents(log))
        .map((e) => e.data)
        .filter((p) => p.deviceId === deviceOf(c.traccarId) && p.lat === c.lat && p.lon === c.lon);
      const times = stored.map((p) => p.ts);
      if (c.ts === null) expect(times.some((t) => t >= before && t <= after)).toBe(true);
      else expect(times).toContain(c.ts);
      for (const p of stored) expect(p.source).toBe('osmand');
    },
  );
});

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyticsRoutes } from '../../api/routes/analytics.js';
import type { ClickHouseStore } from '../../core/stores/clickhouse.js';
import { openAnalyticsClient } from '../../core/stores/clickhouseAnalytics.js';
import { GPS_TRACKING_TABLE, gpsRows, insertGpsRows } from '../../projections/gpsTracking.js';
import type { ApiHarness } from '../support/apiServer.js';
import { aPoint, appendPoints, chRows, gpsTrackingRunner, migrateClickHouse, openTestChdb } from '../support/gps.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';

// The read bound far above what the 1 s time limit lets a query read, so the slow query below
// always ends on time, never on bytes read (a fast core reads 10 GiB of numbers() in about 1 s).
const ENV = {
  ANALYTICS_MAX_ROWS: '5',
  ANALYTICS_MAX_SECONDS: '1',
  ANALYTICS_MAX_RESULT_BYTES: '2048',
  ANALYTICS_MAX_READ_BYTES: String(1024 * 1024 * 1024 * 1024),
};
let ch: Awaited<ReturnType<typeof openTestChdb>>;
let pg: Awaited<ReturnType<typeof freshPglite>>;
let analytics: ClickHouseStore;
let api: ApiHarness;
let key: string;

/** Yesterday 10:00 UTC: one UTC day for the daily view, well inside retention. */
const DAY = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 86_400_000 + 10 * 3_600_000;
/**
 * bus-7 drives 10 fixes 100 m apart at 60 km/h, stands still for 10 minutes (11 fixes, one a
 * minute), then does 120 km/h for 3 fixes 333 m apart.
 */
const drive = () => {
  const points = [];
  let t = DAY;
  let lat = 55;
  for (let i = 0; i < 10; i++, t += 6_000, lat += 0.0009) points.push(aPoint('bus-7', t, { lat, lon: 37, speed: 60 }));
  for (let i = 0; i < 11; i++, t += 60_000) points.push(aPoint('bus-7', t, { lat, lon: 37, speed: 0 }));
  for (let i = 0; i < 3; i++, t += 10_000) {
    lat += 0.003;
    points.push(aPoint('bus-7', t, { lat, lon: 37, speed: 120 }));
  }
  return points;
};

beforeAll(async () => {
  [ch, pg] = await Promise.all([openTestChdb(ENV), freshPglite()]);
  await migrateClickHouse(pg, ch.store);
  analytics = await openAnalyticsClient(ch.config, ch.store);
  api = await startRoutes(pg, () => analyticsRoutes({ analytics: analytics.client, config: ch.config }), ENV);
  key = await api.key(['analytics']);
  const points = drive();
  await appendPoints(api.log, points.slice(0, 12));
  await appendPoints(api.log, points.slice(12));
  const tracking = gpsTrackingRunner({ log: api.log, sql: pg.sql, clickhouse: ch.client, config: ch.config });
  await tracking.start();
  await tracking.caughtUp(10_000);
  await tracking.stop();
  // A replay's worth of duplicates, physically present: the views must still count each fix once.
  await insertGpsRows(ch.client, gpsRows(await api.log.read('GPS', 100)));
}, 120_000);
afterAll(async () => {
  await api?.close();
  await analytics?.close();
  await pg?.close();
  await ch?.close();
});

const query = (sql: string, as = key) =>
  fetch(`${api.url}/api/v1/analytics/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${as}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sql }),
  });
const rows = async (sql: string) => {
  const res = await query(sql);
  const body = (await res.json()) as {
    meta: { name: string; type: string }[];
    rows: Record<string, unknown>[];
    elapsedMs: number;
    truncated?: boolean;
  };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
};
const refusal = async (sql: string) => {
  const res = await query(sql);
  return { status: res.status, ...((await res.json()) as { code: string; detail: string }) };
};

describe('POST /api/v1/analytics/query', () => {
  it('runs a SELECT and answers rows and elapsedMs', async () => {
    const body = await rows('SELECT 1 + 1 AS two, toString(42) AS s');
    expect(body.rows).toEqual([{ two: 2, s: '42' }]);
    expect(body.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(body.truncated).toBeUndefined();
  });

  it('keeps 64-bit integers exact: strings, with the column types in meta (issue 22.4)', async () => {
    const body = await rows(
      'SELECT sum(cityHash64(number)) AS s, toInt64(-9007199254740993) AS i, toInt32(-7) AS small FROM numbers(10)',
    );
    // The exact sum as text (no JSON number in between); a JSON number would read as 16147520666042407000.
    const [exact] = await chRows<{ s: string }>(ch.client, 'SELECT toString(sum(cityHash64(number))) AS s FROM numbers(10)');
    expect(exact?.s).toBe('16147520666042407460');
    expect(body.rows).toEqual([{ s: '16147520666042407460', i: '-9007199254740993', small: -7 }]);
    expect(BigInt(body.rows[0]?.s as string)).toBe(16147520666042407460n);
    expect(body.meta).toEqual([
      { name: 's', type: 'UInt64' },
      { name: 'i', type: 'Int64' },
      { name: 'small', type: 'Int32' },
    ]);
  });

  it('answers meta and no rows for an empty result', async () => {
    const body = await rows('SELECT number AS n FROM numbers(10) WHERE n > 100');
    expect(body.rows).toEqual([]);
    expect(body.meta).toEqual([{ name: 'n', type: 'UInt64' }]);
  });

  it.each([
    [
      'INSERT',
      `INSERT INTO ${GPS_TRACKING_TABLE} (device_id, ts, lat, lon, source, received_at, log_seq, event_id) VALUES ('x', now(), 1, 1, 'mqtt', now(), 1, 'x')`,
    ],
    ['DROP', `DROP TABLE ${GPS_TRACKING_TABLE}`],
    ['CREATE', 'CREATE TABLE fleetgate.scratch (a Int8) ENGINE = Memory'],
    ['TRUNCATE', `TRUNCATE TABLE ${GPS_TRACKING_TABLE}`],
    ['lifting readonly', 'SELECT 1 SETTINGS readonly = 0'],
    ['file()', "SELECT * FROM file('/etc/passwd', LineAsString)"],
    ['a higher row limit', 'SELECT number FROM numbers(100) SETTINGS max_result_rows = 1000'],
  ])('refuses %s with a 400 naming the ClickHouse error (READONLY, 164)', async (_, sql) => {
    const p = await refusal(sql);
    expect(p).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
    expect(p.detail).toContain('READONLY (164)');
  });

  it('left the data alone, and the main client still writes (a separate settings profile)', async () => {
    const [n] = await chRows<{ n: string }>(ch.client, `SELECT count() AS n FROM ${GPS_TRACKING_TABLE} FINAL`);
    expect(Number(n?.n)).toBe(24);
    await ch.client.command({ query: 'CREATE TABLE IF NOT EXISTS fleetgate.rw_probe (a Int8) ENGINE = Memory' });
    await ch.client.command({ query: 'DROP TABLE fleetgate.rw_probe' });
  });

  it('enforces the row limit (ANALYTICS_MAX_ROWS) and says when it truncated', async () => {
    const many = await rows('SELECT number FROM numbers(100000)');
    expect(many.rows).toEqual(['0', '1', '2', '3', '4'].map((number) => ({ number })));
    expect(many.truncated).toBe(true);
    const exact = await rows('SELECT number FROM numbers(5)');
    expect(exact.rows).toHaveLength(5);
    expect(exact.truncated).toBeUndefined();
  });

  it('ends a query at ANALYTICS_MAX_SECONDS (TIMEOUT_EXCEEDED) and reports syntax errors', async () => {
    const slow = await refusal('SELECT sum(number) FROM numbers(1000000000000)');
    expect(slow).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
    expect(slow.detail).toContain('TIMEOUT_EXCEEDED (159)');
    expect((await refusal('SELEC 1')).detail).toContain('SYNTAX_ERROR (62)');
    // The client appends FORMAT JSONEachRow, which SET does not take: refused before it could run.
    expect(await refusal('SET readonly = 0')).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
  });

  it('needs the analytics scope', async () => {
    expect((await query('SELECT 1', await api.key(['vehicles']))).status).toBe(403);
  });
});

describe('what readonly=1 alone lets through (issue 23.7)', () => {
  it('refuses INTO OUTFILE, and writes no file (chdb would write it from inside the gateway)', async () => {
    // Inside chdb's own temp directory: removed with it, whatever happens here.
    const target = join(ch.config.dataDir, 'outfile.txt');
    for (const sql of [
      `SELECT 1 INTO OUTFILE '${target}'`,
      `SELECT 1 UNION ALL SELECT 2 INTO OUTFILE '${target}' TRUNCATE`,
      `SELECT 1 INTO OUTFILE '${target}' AND STDOUT`,
    ]) {
      const p = await refusal(sql);
      expect(p, sql).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
      expect(p.detail, sql).toContain('INTO OUTFILE');
    }
    expect(existsSync(target)).toBe(false);
    // The words inside a string are data, not the clause.
    expect((await rows("SELECT 'x\nINTO OUTFILE y' AS s")).rows).toEqual([{ s: 'x\nINTO OUTFILE y' }]);
  });

  it('refuses a second statement and a SETTINGS clause inside a subquery', async () => {
    expect(await refusal(`SELECT 1; SELECT 1 INTO OUTFILE '${join(ch.config.dataDir, 'x')}'`)).toMatchObject({ status: 400 });
    const nested = await refusal('SELECT * FROM (SELECT number FROM numbers(100) SETTINGS max_result_bytes = 0)');
    expect(nested).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
    expect(nested.detail).toContain('SETTINGS');
  });

  it.each([
    ['url()', "SELECT * FROM url('https://example.com/x', 'CSV', 'a String')"],
    ['s3()', "SELECT * FROM s3('https://examplebucket.s3.amazonaws.com/x.csv', 'CSV')"],
    ['remote()', "SELECT * FROM remote('127.0.0.1:1', system.one)"],
    ['remoteSecure()', "SELECT * FROM remoteSecure('example.com:9440', system.one)"],
    ['executable()', "SELECT * FROM executable('ls', TSV, 'a String')"],
    ['postgresql()', "SELECT * FROM postgresql('127.0.0.1:1', 'd', 't', 'u', 'p')"],
  ])('refuses the table function %s, which reaches outside (READONLY, 164)', async (_, sql) => {
    const p = await refusal(sql);
    expect(p).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
    expect(p.detail).toContain('READONLY (164)');
  });

  it.each(['system.users', 'system.grants', 'system.roles', 'system.quotas', 'system.settings_profiles', 'system.row_policies'])(
    'refuses %s (ACCESS_DENIED, 497)',
    async (table) => {
      const p = await refusal(`SELECT * FROM ${table}`);
      expect(p).toMatchObject({ status: 400, code: 'GW_ERR_VALIDATION' });
      expect(p.detail).toContain('ACCESS_DENIED (497)');
    },
  );

  it('holds no secrets chdb could show: no named collections, no password settings', async () => {
    expect((await rows('SELECT name FROM system.named_collections')).rows).toEqual([]);
    expect((await rows("SELECT name FROM system.server_settings WHERE name ILIKE '%password%'")).rows).toEqual([]);
  });

  it('cuts the result at ANALYTICS_MAX_RESULT_BYTES and streams it, elapsedMs after the rows', async () => {
    const res = await query("SELECT repeat('x', 1500) AS s FROM numbers(5)");
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBeNull();
    const text = await res.text();
    expect(text.startsWith('{"meta":[{"name":"s","type":"String"}],"rows":[')).toBe(true);
    const body = JSON.parse(text) as { rows: unknown[]; elapsedMs: number; truncated?: boolean };
    expect(body.rows).toEqual([{ s: 'x'.repeat(1500) }]);
    expect(body.truncated).toBe(true);
    expect(Object.keys(body)).toEqual(['meta', 'rows', 'elapsedMs', 'truncated']);
  });

  it('fails a query past ANALYTICS_MAX_READ_BYTES or ANALYTICS_MAX_MEMORY_BYTES', async () => {
    const tight = await openAnalyticsClient(
      {
        ...ch.config,
        analytics: { ...ch.config.analytics, maxReadBytes: 1_048_576, maxMemoryBytes: 16_777_216, maxSeconds: 30 },
      },
      ch.store,
    );
    try {
      const fails = (sql: string) =>
        tight.client.query({ query: sql, format: 'JSONEachRow' }).then(
          (r) => r.json(),
          (e: Error & { type?: string }) => e.type,
        );
      expect(await fails('SELECT sum(number) FROM numbers(10000000)')).toBe('TOO_MANY_BYTES');
      expect(await fails("SELECT length(groupArray(repeat('x', 1000))) FROM numbers(100000)")).toBe('MEMORY_LIMIT_EXCEEDED');
    } finally {
      await tight.close();
    }
  });
});

describe('analyst views (schemas/clickhouse/002_views.sql)', () => {
  it('gps_points shows each fix once although it was inserted twice', async () => {
    expect((await rows(`SELECT count() AS n FROM ${GPS_TRACKING_TABLE}`)).rows[0]?.n).toBe('48');
    expect((await rows('SELECT count() AS n FROM fleetgate.gps_points')).rows[0]?.n).toBe('24');
  });

  it('gps_daily: points and distance per vehicle per day', async () => {
    const [day] = (await rows(`SELECT * FROM fleetgate.gps_daily WHERE device_id = 'bus-7'`)).rows;
    expect(day).toMatchObject({
      device_id: 'bus-7',
      day: new Date(DAY).toISOString().slice(0, 10),
      points: '24',
      max_speed_kmh: 120,
    });
    // 9 steps of 0.0009° + one of 0.0009° into the stop + 3 of 0.003° of latitude, about 111.4 km per degree here.
    expect(day?.distance_km).toBeCloseTo(((10 * 0.0009 + 3 * 0.003) * 2_004) / 18, 1);
  });

  it('gps_stops(min_minutes): the 10-minute stand-still, and nothing at 20 minutes', async () => {
    const { rows: stops } = await rows('SELECT device_id, minutes, points, lat FROM fleetgate.gps_stops(min_minutes = 5)');
    expect(stops).toEqual([{ device_id: 'bus-7', minutes: 10, points: '11', lat: expect.closeTo(55.009, 6) }]);
    expect((await rows('SELECT * FROM fleetgate.gps_stops(min_minutes = 20)')).rows).toEqual([]);
  });

  it('gps_speeding(limit): one episode over 90 km/h, none over 130', async () => {
    const { rows: episodes } = await rows(
      'SELECT device_id, seconds, max_speed_kmh, points FROM fleetgate.gps_speeding(limit = 90)',
    );
    expect(episodes).toEqual([{ device_id: 'bus-7', seconds: '20', max_speed_kmh: 120, points: '3' }]);
    expect((await rows('SELECT * FROM fleetgate.gps_speeding(limit = 130)')).rows).toEqual([]);
  });
});

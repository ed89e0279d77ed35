import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planExport } from '../../core/exports/plan.js';
import type { Row } from '../../core/exports/types.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { clickhouseSource } from '../../handlers/export/source.js';
import { csvWriter } from '../../handlers/export/writers/csv.js';
import { ndjsonWriter } from '../../handlers/export/writers/json.js';
import { migrateClickHouse, openTestChdb } from '../support/gps.js';
import { freshPglite, tempDir } from '../support/stores.js';

let ch: Awaited<ReturnType<typeof openTestChdb>>;
let pg: PostgresStore;
let dir: Awaited<ReturnType<typeof tempDir>>;

// Recent enough for the table's TTL; Berlin's 2026 DST change is covered by the writers' test.
const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const at = (hms: string) => `${day} ${hms}.000`;

beforeAll(async () => {
  [ch, pg, dir] = await Promise.all([openTestChdb(), freshPglite(), tempDir('fg-export-gps-')]);
  await migrateClickHouse(pg, ch.store);
  const point = (device_id: string, ts: string, lat: number, lon: number, speed: number | null, i: number) => ({
    device_id,
    ts,
    lat,
    lon,
    speed,
    source: 'mqtt',
    received_at: ts,
    log_seq: i,
    event_id: `e${i}`,
  });
  await ch.client.insert({
    table: 'fleetgate.gps_tracking',
    format: 'JSONEachRow',
    values: [
      point('car-1', at('08:00:00'), 55.75, 37.62, 42.5, 1),
      point('car-1', at('08:00:10'), 55.751, 37.621, null, 2),
      point('car-1', at('09:30:00'), 55.76, 37.63, 0, 3),
      point('car-2', at('08:00:05'), 59.93, 30.33, 60, 4),
    ],
  });
}, 60_000);
afterAll(async () => {
  await ch?.close();
  await pg?.close();
  await dir?.remove();
});

const write = async (name: string, writer: typeof csvWriter, req: Parameters<typeof planExport>[0]) => {
  const plan = planExport(req);
  const source = clickhouseSource(ch.client);
  const count = await source.count(plan);
  const path = join(dir.dir, name);
  await writer(
    createWriteStream(path),
    source.rows(plan, count) as AsyncIterable<Row[]>,
    {
      columns: plan.columns,
      headers: plan.columns.map((c) => c[plan.locale]),
      timeZone: plan.timeZone,
      locale: plan.locale,
      title: plan.entity.title[plan.locale],
      filters: req.filters ?? {},
      generatedAt: new Date(),
      truncated: false,
      separator: ',',
    },
    () => {},
  );
  return { count, text: await readFile(path, 'utf8') };
};

describe('GPS tracks from ClickHouse', () => {
  it('streams the filtered points to CSV in the chosen time zone', async () => {
    const { count, text } = await write('gps.csv', csvWriter, {
      entity: 'gps_tracks',
      filters: { device_id: 'car-1', date_from: `${day}T07:59:00Z`, date_to: `${day}T09:00:00Z` },
      locale: 'en',
      timeZone: 'Europe/Moscow',
    });
    expect(count).toBe(2);
    expect(parse(text, { bom: true })).toEqual([
      ['Device', 'Time', 'Latitude', 'Longitude', 'Speed, km/h'],
      ['car-1', `${day} 11:00:00`, '55.75', '37.62', '42.5'],
      ['car-1', `${day} 11:00:10`, '55.751', '37.621', ''],
    ]);
  });

  it('pages by the sort key return every row once, in order (a page of 1 row here)', async () => {
    const plan = planExport({ entity: 'gps_tracks', filters: { date_from: `${day}T00:00:00Z` } });
    const all: unknown[] = [];
    for await (const batch of clickhouseSource(ch.client, 1).rows(plan, 10)) all.push(...batch);
    const once: unknown[] = [];
    for await (const batch of clickhouseSource(ch.client).rows(plan, 10)) once.push(...batch);
    expect(all).toHaveLength(4);
    expect(all).toEqual(once);
    const three: unknown[] = [];
    for await (const batch of clickhouseSource(ch.client, 2).rows(plan, 3)) three.push(...batch);
    expect(three).toEqual(once.slice(0, 3));
  });

  it('daily mileage and speeding episodes from the analyst views', async () => {
    const daily = await write('daily.ndjson', ndjsonWriter, {
      entity: 'gps_daily_mileage',
      columns: ['device_id', 'day', 'points', 'max_speed'],
    });
    expect(
      daily.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { device_id: 'car-1', day, points: 3, max_speed: 42.5 },
      { device_id: 'car-2', day, points: 1, max_speed: 60 },
    ]);
    const speeding = await write('speeding.csv', csvWriter, { entity: 'gps_speeding', locale: 'en' });
    expect(speeding.count).toBe(0); // nothing above 90 km/h here
    expect(parse(speeding.text, { bom: true })).toEqual([
      ['Device', 'From', 'To', 'Seconds', 'Top speed, km/h', 'Average, km/h', 'Latitude', 'Longitude'],
    ]);
  });

  it('NDJSON with typed numbers and UTC offsets', async () => {
    const { text } = await write('gps.ndjson', ndjsonWriter, { entity: 'gps_tracks', columns: ['time', 'device_id', 'speed'] });
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { time: `${day}T08:00:00+00:00`, device_id: 'car-1', speed: 42.5 },
      { time: `${day}T08:00:10+00:00`, device_id: 'car-1', speed: null },
      { time: `${day}T09:30:00+00:00`, device_id: 'car-1', speed: 0 },
      { time: `${day}T08:00:05+00:00`, device_id: 'car-2', speed: 60 },
    ]);
  });
});

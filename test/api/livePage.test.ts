/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/paths.js';
import { appendRecordEvents, upsertedEvent } from '../../core/records/events.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { gpsEvent } from '../../ingest/gps/batcher.js';
import { gpsSubject } from '../../schemas/events/gps.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let store: PostgresStore;
let api: ApiHarness;

beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store, { GPS_OFFLINE_AFTER: '300' });
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

/** Five vans driving along short routes around Moscow, one report per tick each. */
const simulate = async (tick: number) => {
  const events = Array.from({ length: 5 }, (_, v) =>
    gpsEvent({
      deviceId: `van-${v + 1}`,
      ts: Date.now() - 1000,
      lat: 55.75 + v * 0.004 + tick * 0.0004 * Math.sin(v + 1),
      lon: 37.61 + v * 0.006 + tick * 0.0005 * Math.cos(v + 1),
      speed: 20 + v * 7,
      battery: 95 - v * 12 - tick,
      source: (['mqtt', 'ws', 'osmand'] as const)[v % 3] as 'mqtt' | 'ws' | 'osmand',
      receivedAt: Date.now(),
      pointId: `van-${v + 1}-${tick}`,
    }),
  );
  await api.log.append(gpsSubject('mqtt'), events);
};

const launch = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });

/** Canvas pixels of a marker colour: red (online, #eb5757) or grey (offline, #98a2ad). */
const markerPixels = (page: Page, colour: 'red' | 'grey') =>
  page.$eval(
    '#map',
    (c, colour) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      const near = (i: number, rgb: number[]) => rgb.every((v, k) => Math.abs((data[i + k] ?? 0) - v) <= 12);
      const rgb = colour === 'red' ? [0xeb, 0x57, 0x57] : [0x98, 0xa2, 0xad];
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (near(i, rgb)) n++;
      return n;
    },
    colour,
  );

const artifact = async (page: Page, name: string) => {
  const dir = join(packageRoot, 'test', 'artifacts'); // gitignored; docs/live.png is a copy of live.png
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name) });
};

describe('/live in headless Chromium', () => {
  it("draws every vehicle's last known position at once on opening, the one silent past GPS_OFFLINE_AFTER greyed", async () => {
    // Three taxis reported before the map is opened; taxi-103 last 25 minutes ago (GPS_OFFLINE_AFTER is 5 min).
    const now = Date.now();
    const taxis = [
      { deviceId: 'taxi-101', lat: 55.7539, lon: 37.6208, at: now - 4_000, battery: 76, speed: 32 },
      { deviceId: 'taxi-102', lat: 55.7602, lon: 37.6085, at: now - 9_000, battery: 54, speed: 0 },
      { deviceId: 'taxi-103', lat: 55.7468, lon: 37.6011, at: now - 25 * 60_000, battery: 12, speed: 0 },
    ];
    await api.log.append(
      gpsSubject('mqtt'),
      taxis.map((t) =>
        gpsEvent({
          deviceId: t.deviceId,
          ts: t.at - 1_000,
          lat: t.lat,
          lon: t.lon,
          speed: t.speed,
          battery: t.battery,
          source: 'mqtt',
          receivedAt: t.at,
          pointId: `${t.deviceId}-0`,
        }),
      ),
    );
    // The CRM's records name taxi-101's vehicle and driver; the others are on no CRM vehicle.
    await appendRecordEvents(api.log, 'drivers', [
      upsertedEvent('drivers', { id: 'd-7', version: 1, name: 'Анна Смирнова' }, 'crm'),
    ]);
    await appendRecordEvents(api.log, 'vehicles', [
      upsertedEvent('vehicles', { id: 'v-7', version: 1, plate: 'Е101КХ77', driverId: 'd-7', gpsDeviceIds: ['taxi-101'] }, 'crm'),
    ]);
    await api.caughtUp();

    const key = await api.key(['vehicles']);
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${api.url}/live?key=${key}`);
      // Nothing reports after the page opened: what it shows came from the snapshot, all in one go.
      const first = await page.waitForFunction(() => document.querySelectorAll('#list tr').length || false, undefined, {
        timeout: 10_000,
      });
      expect(await first.jsonValue()).toBe(3);
      const rows = await page.$$eval('#list tr', (trs) =>
        trs.map((tr) => [tr.className, ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]),
      );
      expect(rows.map((r) => [r[0], r[1], r[3]])).toEqual([
        ['', 'Е101КХ77 · Анна Смирнова (taxi-101)', '76 %'],
        ['', 'taxi-102', '54 %'],
        ['offline', 'taxi-103', '12 %'],
      ]);
      expect(rows[2]?.[2]).toBe('25 min ago');
      // Two red markers and one grey one (a marker is a 6 px disc: ~110 pixels).
      await page.waitForFunction(() => document.getElementById('state')?.textContent === 'live');
      expect(await markerPixels(page, 'red')).toBeGreaterThan(2 * 80);
      const grey = await markerPixels(page, 'grey');
      expect(grey).toBeGreaterThan(80);
      expect(grey).toBeLessThan(2 * 130);
      await artifact(page, 'live.png');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('shows the vehicles of a simulated run moving, with report age and battery', async () => {
    const key = await api.key(['vehicles']);
    const browser = await launch();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      const external: string[] = [];
      page.on(
        'request',
        (r) =>
          !r.url().startsWith(api.url.replace('http', '')) &&
          !r.url().startsWith(api.url) &&
          !r.url().startsWith(api.url.replace('http', 'ws')) &&
          external.push(r.url()),
      );
      await page.goto(`${api.url}/live?key=${key}`);
      await page
        .waitForFunction(() => document.getElementById('state')?.textContent === 'live', undefined, { timeout: 10_000 })
        .catch(async (e) => {
          throw new Error(`${e.message}; state: ${await page.textContent('#state')}; errors: ${errors.join(' | ')}`);
        });
      for (let tick = 0; tick < 15; tick++) {
        await simulate(tick);
        await new Promise((r) => setTimeout(r, 80));
      }
      // The five vans, after the taxis of the test before (from the snapshot).
      await page.waitForFunction(() => document.querySelectorAll('#list tr').length === 8);
      const rows = (
        await page.$$eval('#list tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)))
      ).filter((r) => r[0]?.startsWith('van-'));
      expect(rows.map((r) => r[0])).toEqual(['van-1', 'van-2', 'van-3', 'van-4', 'van-5']);
      expect(rows.every((r) => /s ago$/.test(r[1] ?? '') && /%$/.test(r[2] ?? ''))).toBe(true);
      // Vehicles are drawn: the canvas holds red markers, not just its background.
      const marked = await page.$eval('#map', (c) => {
        const canvas = c as HTMLCanvasElement;
        const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
        let red = 0;
        for (let i = 0; i < data.length; i += 4)
          if ((data[i] ?? 0) > 200 && (data[i + 1] ?? 0) < 120 && (data[i + 2] ?? 0) < 120) red++;
        return red;
      });
      expect(marked).toBeGreaterThan(100);
      await artifact(page, 'live-run.png');
      expect(errors).toEqual([]);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

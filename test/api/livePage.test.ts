/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/paths.js';
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
  api = await startApi(store);
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

describe('/live in headless Chromium', () => {
  it('shows the vehicles of a simulated run moving, with report age and battery', async () => {
    const key = await api.key(['vehicles']);
    const browser = await chromium.launch({
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
      await page.waitForFunction(() => document.querySelectorAll('#list tr').length === 5);
      const rows = await page.$$eval('#list tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      );
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
      const dir = join(packageRoot, 'test', 'artifacts'); // gitignored; docs/live.png is a copy
      await mkdir(dir, { recursive: true });
      await page.screenshot({ path: join(dir, 'live.png') });
      expect(errors).toEqual([]);
      expect(external).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});

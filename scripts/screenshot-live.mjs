#!/usr/bin/env node
/**
 * Redoes docs/simulate-live.png: `fleetgate simulate` for a minute against a gateway, then a
 * screenshot of /live in headless Chromium (playwright-core, /usr/bin/chromium or CHROMIUM_PATH).
 *
 *   npm run build && node scripts/screenshot-live.mjs [--seconds 60] [--devices 40] [--seed 1]
 *                                                     [--out docs/simulate-live.png] [--data-dir DIR]
 *
 * Without --data-dir it starts its own embedded gateway (`fleetgate start`, as `npm start` runs it)
 * on a fresh temporary DATA_DIR and free ports, and stops it afterwards. With --data-dir it uses the
 * gateway already running on that directory (its ports from the environment, as `npm start`'s), and
 * reads the admin key the first start left there (or FLEETGATE_ADMIN_KEY).
 *
 * The page is opened before the simulation starts, so the map fills as the vehicles report; the
 * screenshot is taken at the end of the run, with every vehicle's trail of the last minute.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'core', 'cli.js');
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    devices: { type: 'string', default: '40' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: join(root, 'docs', 'simulate-live.png') },
    'data-dir': { type: 'string' },
  },
});

const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (line) => process.stderr.write(`screenshot-live: ${line}\n`);

const own = !values['data-dir'];
const dataDir = values['data-dir'] ?? (await mkdtemp(join(tmpdir(), 'fg-screenshot-')));
const env = own
  ? {
      ...process.env,
      DATA_DIR: dataDir,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(await freePort()),
      METRICS_PORT: String(await freePort()),
      MQTT_PORT: String(await freePort()),
      OSMAND_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
      MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? '1048576',
    }
  : { ...process.env, DATA_DIR: dataDir };
const apiUrl = `http://127.0.0.1:${env.HTTP_PORT ?? '8080'}`;

let gateway;
let browser;
try {
  if (own) {
    log(`starting an embedded gateway on ${dataDir}`);
    gateway = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    const deadline = Date.now() + 120_000;
    while (
      !(await fetch(`${apiUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (gateway.exitCode !== null || Date.now() > deadline) throw new Error('the gateway did not get ready');
      await sleep(250);
    }
  }
  const key = (process.env.FLEETGATE_ADMIN_KEY ?? (await readFile(join(dataDir, 'admin-api-key'), 'utf8'))).trim();

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${apiUrl}/live?key=${key}`);
  await page.waitForFunction(() => document.getElementById('state')?.textContent === 'live', undefined, { timeout: 15_000 });

  log(`fleetgate simulate --devices ${values.devices} --seed ${values.seed} --duration ${values.seconds}`);
  const sim = spawn(
    process.execPath,
    [cli, 'simulate', '--devices', values.devices, '--seed', values.seed, '--duration', values.seconds],
    { env: { ...env, FLEETGATE_ADMIN_KEY: key }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const code = await new Promise((r) => sim.once('exit', r));
  if (code !== 0) throw new Error(`simulate exited with ${code}`);
  const rows = await page.$$eval('#list tr', (trs) => trs.length);
  await page.screenshot({ path: values.out });
  log(`${rows} vehicles listed; wrote ${values.out}`);
  if (errors.length) throw new Error(`page errors: ${errors.join(' | ')}`);
} finally {
  await browser?.close();
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
  }
  if (own) await rm(dataDir, { recursive: true, force: true });
}

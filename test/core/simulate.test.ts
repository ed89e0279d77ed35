import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planFleet } from '../../core/simulate/fleet.js';
import type { SimulateSummary } from '../../core/simulate/runner.js';
import { freePort, runCli } from '../support/gatewayProcess.js';
import { tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

/**
 * `fleetgate simulate` against an embedded gateway started here (`fleetgate start`, as `npm start`
 * runs it), provisioning with the admin key the first start wrote to DATA_DIR/admin-api-key.
 */
let dir: { dir: string; remove(): Promise<void> };
let gw: ReturnType<typeof runCli>;
let env: Record<string, string>;
let base: string;
let key: string;

beforeAll(async () => {
  dir = await tempDir('fg-simulate-');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  env = {
    DATA_DIR: dir.dir,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(port),
    METRICS_PORT: String(await freePort()),
    MQTT_PORT: String(await freePort()),
    OSMAND_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    GPS_CLICKHOUSE_BATCH_MS: '100',
  };
  gw = runCli(['start'], env);
  await gw.waitHealthy(`${base}/readyz`, 120_000);
  const { readFile } = await import('node:fs/promises');
  key = (await readFile(`${dir.dir}/admin-api-key`, 'utf8')).trim();
}, 150_000);
afterAll(async () => {
  gw?.child.kill('SIGTERM');
  await gw?.exited;
  await dir?.remove();
});

const SEED = 42;
const mix = ['mqtt', 'ws', 'osmand'] as const;

const simulateRun = async (args: string[]) => {
  const run = runCli(['simulate', '--seed', String(SEED), '--mix', mix.join(','), ...args], env);
  const code = await run.exited;
  expect(code, run.stderr()).toBe(0);
  return { summary: JSON.parse(run.output().trim().split('\n').pop() as string) as SimulateSummary, progress: run.stderr() };
};

interface Row {
  [column: string]: string | number;
}
const analytics = async (sql: string): Promise<Row[]> => {
  const res = await fetch(`${base}/api/v1/analytics/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sql }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { rows: Row[] }).rows;
};

describe('fleetgate simulate', () => {
  it('drives every protocol of the mix into the positions and ClickHouse, offline vehicles coming back with buffered batches, the same seed on the same routes', async () => {
    const first = await simulateRun([
      '--devices',
      '6',
      '--rate',
      '12',
      '--duration',
      '12',
      '--offline-share',
      '0.5',
      '--offline-for',
      '3',
      '--crm-every',
      '2',
    ]);
    const s = first.summary;
    expect(s.errors, first.progress).toBe(0);
    expect(s.refused).toBe(0);
    for (const p of mix) expect(s.acked[p], p).toBeGreaterThan(5);
    expect(s.batchesResent).toBeGreaterThan(0);
    expect(s.bufferedResent).toBeGreaterThan(s.batchesResent);
    expect(s.crm.applications).toBeGreaterThan(0);
    expect(s.crm.failed).toBe(0);
    expect(first.progress).toMatch(/fixes acked \(mqtt \d+, ws \d+, osmand \d+\)/);
    const acked = s.acked.mqtt + s.acked.ws + s.acked.osmand;

    // Every acknowledged fix in ClickHouse once, per source; the buffered ones arrived late with their own (past) times.
    // (A fix sent just before its vehicle went offline or the run stopped may be stored yet unanswered: counted as unsent.)
    let seen: Row[] = [];
    const rows = await until(
      async () => {
        seen = await analytics(
          'SELECT source, count() AS n, uniqExact(device_id) AS devices, countIf(received_at - ts > 1) AS late FROM fleetgate.gps_tracking FINAL GROUP BY source ORDER BY source',
        );
        return seen.reduce((n, x) => n + Number(x.n), 0) >= acked && seen;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 500,
        what: () => `${acked} fixes in ClickHouse (${JSON.stringify(s)}; got ${JSON.stringify(seen)})`,
      },
    );
    expect(rows.map((r) => [r.source, Number(r.devices)])).toEqual([
      ['mqtt', 2],
      ['osmand', 2],
      ['ws', 2],
    ]);
    for (const r of rows) expect(Number(r.n)).toBeGreaterThanOrEqual(s.acked[r.source as (typeof mix)[number]]);
    expect(rows.reduce((n, r) => n + Number(r.n), 0)).toBeLessThanOrEqual(acked + s.unsent);
    // Each resent batch starts with a fix from the start of its offline spell (at least 1.5 s before it was sent).
    expect(rows.reduce((n, r) => n + Number(r.late), 0)).toBeGreaterThanOrEqual(s.batchesResent);

    // vehicle_positions: every vehicle, named from the CRM records the simulation wrote.
    const res = await fetch(`${base}/api/v1/vehicles/positions`, { headers: { authorization: `Bearer ${key}` } });
    const positions = ((await res.json()) as { positions: { deviceId: string; plate?: string; driverName?: string }[] })
      .positions;
    expect(positions.map((p) => p.deviceId).sort()).toEqual(
      planFleet({ seed: SEED, devices: 6, mix: [...mix], prefix: 'sim' })
        .map((v) => v.member.deviceId)
        .sort(),
    );
    expect(positions.every((p) => /^[А-Я]\d{3}[А-Я]{2}77$/.test(p.plate ?? '') && (p.driverName ?? '').length > 3)).toBe(true);

    // Each vehicle's first fix is its seeded route's start; a second run (devices re-used: new tokens) starts there again.
    const fleet = planFleet({ seed: SEED, devices: 6, mix: [...mix], prefix: 'sim' });
    const firstFixes = async (after: number) =>
      new Map(
        (
          await analytics(
            `SELECT device_id, argMin(lat, ts) AS lat, argMin(lon, ts) AS lon FROM fleetgate.gps_tracking WHERE ts > fromUnixTimestamp64Milli(${after}) GROUP BY device_id`,
          )
        ).map((r) => [r.device_id as string, [Number(r.lat), Number(r.lon)]]),
      );
    const starts = await firstFixes(0);
    for (const v of fleet) {
      const start = v.route.waypoints[0];
      expect(starts.get(v.member.deviceId)?.[0]).toBeCloseTo(start?.lat ?? 0, 6);
      expect(starts.get(v.member.deviceId)?.[1]).toBeCloseTo(start?.lon ?? 0, 6);
    }
    const secondAt = Date.now();
    const second = await simulateRun([
      '--devices',
      '6',
      '--rate',
      '12',
      '--duration',
      '3',
      '--offline-share',
      '0',
      '--crm-every',
      '0',
    ]);
    expect(second.summary.errors, second.progress).toBe(0);
    const again = await until(
      async () => {
        const m = await firstFixes(secondAt);
        return m.size === 6 && m;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'the second run in ClickHouse' },
    );
    expect(again).toEqual(starts);
  }, 120_000);

  it('stops cleanly on Ctrl-C: answers awaited, connections closed, the summary printed', async () => {
    const run = runCli(['simulate', '--seed', String(SEED), '--devices', '3', '--crm-every', '0', '--offline-share', '0'], env);
    await until(() => run.stderr().includes('driving:'), { timeoutMs: 60_000, what: () => `driving: ${run.stderr()}` });
    await new Promise((r) => setTimeout(r, 2_500));
    run.child.kill('SIGINT');
    expect(await run.exited, run.stderr()).toBe(0);
    const summary = JSON.parse(run.output().trim()) as SimulateSummary;
    expect(summary.errors).toBe(0);
    expect(summary.acked.mqtt + summary.acked.ws + summary.acked.osmand).toBeGreaterThan(0);
    expect(run.stderr()).toMatch(/stopping the simulation[\s\S]*stopped: /);
  }, 90_000);
});

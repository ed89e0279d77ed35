/** A slow event log: the broker stops reading sockets instead of queueing without bound (issue #4 item 4). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventLog } from '../../core/eventlog/port.js';
import { locationTopic } from '../../ingest/mqtt/broker.js';
import { connectDevice, counter, fix, gpsEvents, type Harness, sleep, startHarness } from './harness.js';

const APPEND_DELAY_MS = 25;
const MAX_PENDING = 2_000;
const appends: { points: number; pending: number; paused: number }[] = [];
let inFlight = 0;
let maxInFlight = 0;
const slow = (log: EventLog): EventLog => ({
  ...log,
  append: async (subject, events, opts) => {
    const batch = Array.isArray(events) ? events : [events];
    appends.push({
      points: batch.length,
      pending: await counter('fleetgate_gps_pending_points', { source: 'mqtt' }),
      paused: await counter('fleetgate_mqtt_paused_sockets'),
    });
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      await sleep(APPEND_DELAY_MS);
      return await log.append(subject, events, opts);
    } finally {
      inFlight--;
    }
  },
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness(
    { GPS_BATCH_MAX_POINTS: '100', GPS_BATCH_MAX_MS: '5', GPS_APPENDS_IN_FLIGHT: '2' },
    { wrapLog: slow, maxPendingPoints: MAX_PENDING },
  );
}, 60_000);
afterAll(() => h?.close());

describe('MQTT intake backpressure', () => {
  it('pauses reading while the log lags behind a QoS 0 flood, loses nothing, and stays bounded', async () => {
    const token = await h.device('flood');
    const pausesBefore = await counter('fleetgate_mqtt_intake_pauses_total');
    const lostBefore = await counter('fleetgate_mqtt_qos0_points_lost_total');
    const c = await connectDevice(h.port, 'flood', token);
    const total = 10_000; // the log takes ~4,000 points/s (100 per 25 ms): the flood outruns it
    for (let i = 0; i < total; i++) c.publish(locationTopic('flood'), JSON.stringify(fix({ id: `f-${i}` })), { qos: 0 });
    let stored = 0;
    for (let t = 0; t < 200 && stored < total; t++) {
      await sleep(50);
      stored = (await gpsEvents(h.log)).filter((e) => e.data.deviceId === 'flood').length;
    }
    expect(stored).toBe(total);
    expect(await counter('fleetgate_mqtt_intake_pauses_total')).toBeGreaterThan(pausesBefore);
    expect(appends.some((a) => a.paused > 0)).toBe(true);
    expect(await counter('fleetgate_mqtt_qos0_points_lost_total')).toBe(lostBefore);
    // Saturated at MAX_PENDING; what was already read when the gate closed is at most one socket chunk more.
    expect(Math.max(...appends.map((a) => a.pending))).toBeLessThan(2 * MAX_PENDING);
    expect(Math.max(...appends.map((a) => a.points))).toBeLessThanOrEqual(100);
    expect(maxInFlight).toBe(2); // pipelined, and never more than GPS_APPENDS_IN_FLIGHT
    console.log(
      `flood: ${appends.length} appends, max pending ${Math.max(...appends.map((a) => a.pending))}, pauses ${(await counter('fleetgate_mqtt_intake_pauses_total')) - pausesBefore}`,
    );
    c.end(true);
  });

  it('PUBACKs every QoS 1 point of 20 devices once its batch is stored, at most two appends at a time', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `q1-${i}`);
    const tokens = await Promise.all(ids.map((id) => h.device(id)));
    const clients = await Promise.all(ids.map((id, i) => connectDevice(h.port, id, tokens[i] as string)));
    appends.length = 0;
    const t0 = performance.now();
    await Promise.all(
      clients.flatMap((c, n) =>
        Array.from({ length: 50 }, (_, i) =>
          c.publishAsync(locationTopic(ids[n] as string), JSON.stringify(fix({ id: `p${i}` })), { qos: 1 }),
        ),
      ),
    );
    const ms = performance.now() - t0;
    const stored = (await gpsEvents(h.log)).filter((e) => e.data.deviceId.startsWith('q1-'));
    expect(stored).toHaveLength(1_000);
    // 1,000 points in batches of ≤ 100 behind a 25 ms log: group commit keeps it near 10 appends.
    expect(appends.length).toBeLessThanOrEqual(20);
    expect(maxInFlight).toBeLessThanOrEqual(2);
    console.log(`qos1: ${appends.length} appends, ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(20 * (APPEND_DELAY_MS + 50));
    for (const c of clients) c.end(true);
  });
});

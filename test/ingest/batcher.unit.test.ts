import { describe, expect, it } from 'vitest';
import { batchMsgId } from '../../core/eventlog/newEvent.js';
import type { AppendAck, AppendOptions, EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { type GpsBatcherOptions, GpsIntakeOverloadedError, gpsBatcher, gpsEvent } from '../../ingest/gps/batcher.js';
import { gpsMetrics } from '../../ingest/gps/metrics.js';
import { isGatewayError } from '../../schemas/errors.js';
import type { GpsReported } from '../../schemas/events/gps.js';

interface Call {
  subject: string;
  events: EventEnvelope<GpsReported>[];
  opts: AppendOptions | undefined;
  ack(): void;
  fail(e?: unknown): void;
}

/** An event log whose appends wait until the test acks or fails them. */
const manualLog = () => {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const log = {
    append: (subject: string, events: EventEnvelope<GpsReported>[], opts?: AppendOptions) =>
      new Promise<AppendAck>((resolve, reject) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        const settle = () => inFlight--;
        calls.push({
          subject,
          events,
          opts,
          ack: () => {
            settle();
            resolve({ stream: 'GPS', seq: calls.length, duplicate: false });
          },
          fail: (e = new Error('boom')) => {
            settle();
            reject(e);
          },
        });
      }),
  } as unknown as EventLog;
  return { log, calls, maxInFlight: () => maxInFlight };
};

let n = 0;
const points = (count: number, deviceId = 'd1') =>
  Array.from({ length: count }, () =>
    gpsEvent({ deviceId, ts: 1_700_000_000_000 + n++, lat: 1, lon: 2, source: 'mqtt', receivedAt: 1 }),
  );
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const state = (p: Promise<unknown>) => {
  const s = { value: 'pending' as 'pending' | 'resolved' | 'rejected', error: undefined as unknown };
  p.then(
    () => {
      s.value = 'resolved';
    },
    (e: unknown) => {
      s.value = 'rejected';
      s.error = e;
    },
  );
  return s;
};
const batcher = (log: EventLog, over: Partial<GpsBatcherOptions> = {}) =>
  gpsBatcher({ log, source: 'mqtt', maxPoints: 100, maxMs: 5, maxPending: 1_000, ...over });

describe('gpsBatcher', () => {
  it('cuts batches at maxPoints, under the source subject, with the batch digest as message id', async () => {
    const m = manualLog();
    const b = batcher(m.log);
    const done = state(b.add(points(250)));
    await tick();
    expect(m.calls).toHaveLength(1); // one in flight, the rest waits
    m.calls[0]?.ack();
    await tick();
    m.calls[1]?.ack();
    await tick(10);
    m.calls[2]?.ack();
    await tick();
    expect(m.calls.map((c) => c.events.length)).toEqual([100, 100, 50]);
    expect(m.calls.every((c) => c.subject === 'gps.reported.mqtt' && c.opts?.msgId === batchMsgId(c.events))).toBe(true);
    expect(done.value).toBe('resolved');
    expect(m.maxInFlight()).toBe(1);
  });

  it('times each message from queued to durable (fleetgate_gps_durable_seconds), only once it is durable', async () => {
    const m = manualLog();
    const b = batcher(m.log, { source: 'osmand', maxMs: 0 });
    const observed = async () =>
      (await gpsMetrics.durableSeconds.get()).values.find(
        (v) => v.metricName === 'fleetgate_gps_durable_seconds_count' && v.labels.source === 'osmand',
      )?.value ?? 0;
    const before = await observed();
    const done = state(b.add(points(3)));
    await tick(30);
    expect(await observed()).toBe(before); // not durable yet: nothing observed
    m.calls[0]?.ack();
    await tick();
    expect(done.value).toBe('resolved');
    expect(await observed()).toBe(before + 1);
    const sum = (await gpsMetrics.durableSeconds.get()).values.find(
      (v) => v.metricName === 'fleetgate_gps_durable_seconds_sum' && v.labels.source === 'osmand',
    )?.value;
    expect(sum).toBeGreaterThanOrEqual(0.025); // it waited ~30 ms for the ack
  });

  it('sends a lone point after maxMs, not before', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxMs: 30 });
    void b.add(points(1));
    await tick(10);
    expect(m.calls).toHaveLength(0);
    await tick(40);
    expect(m.calls).toHaveLength(1);
    m.calls[0]?.ack();
  });

  it('group commit: points arriving during an append go together the moment it is acknowledged', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxMs: 1_000 });
    const first = state(b.add(points(100))); // full: goes at once
    await tick();
    const others = [state(b.add(points(3, 'd2'))), state(b.add(points(4, 'd3')))];
    await tick(20);
    expect(m.calls).toHaveLength(1);
    m.calls[0]?.ack();
    await tick();
    expect(first.value).toBe('resolved');
    expect(others.map((o) => o.value)).toEqual(['pending', 'pending']); // theirs is not stored yet
    expect(m.calls).toHaveLength(2); // no 1 s wait: sent right after the ack
    expect(m.calls[1]?.events).toHaveLength(7);
    m.calls[1]?.ack();
    await tick();
    expect(others.map((o) => o.value)).toEqual(['resolved', 'resolved']);
  });

  it('rejects exactly the callers whose points were in the failed append, and carries on', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxPoints: 10 });
    const spanning = state(b.add(points(15))); // batches 1 and 2
    const later = state(b.add(points(3))); // batch 2
    await tick();
    m.calls[0]?.ack();
    await tick();
    m.calls[1]?.fail();
    await tick();
    expect(spanning.value).toBe('rejected');
    expect(later.value).toBe('rejected');
    expect(isGatewayError(spanning.error, 'GW_ERR_LOG_UNAVAILABLE')).toBe(true);
    const next = state(b.add(points(1)));
    await tick(10);
    m.calls[2]?.ack();
    await tick();
    expect(next.value).toBe('resolved');
  });

  it('drops a point repeated within one batch (a resend racing its original)', async () => {
    const m = manualLog();
    const b = batcher(m.log);
    const [p] = points(1);
    const both = Promise.all([b.add([p as EventEnvelope<GpsReported>]), b.add([p as EventEnvelope<GpsReported>])]);
    await tick(10);
    m.calls[0]?.ack();
    await both;
    expect(m.calls[0]?.events).toHaveLength(1);
  });

  it('saturates at maxPending, drains at half, and refuses beyond twice', async () => {
    const m = manualLog();
    const pressure: boolean[] = [];
    const b = batcher(m.log, { maxPoints: 10, maxPending: 20, onPressure: (s) => pressure.push(s) });
    void b.add(points(10)).catch(() => {}); // in flight at once
    await tick();
    void b.add(points(25)).catch(() => {});
    expect(b.saturated).toBe(true);
    expect(pressure).toEqual([true]);
    const overloaded = await b.add(points(20)).catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(GpsIntakeOverloadedError);
    const drained = state(b.drained());
    m.calls[0]?.ack(); // sends the next 10: 15 still waiting
    await tick();
    expect(drained.value).toBe('pending');
    m.calls[1]?.ack(); // 5 waiting ≤ 20 / 2
    await tick();
    expect(drained.value).toBe('resolved');
    expect(pressure).toEqual([true, false]);
  });

  it('keeps one append in flight when the drain callback adds points at once', async () => {
    const m = manualLog();
    let b: ReturnType<typeof gpsBatcher> | undefined;
    b = batcher(m.log, {
      maxPoints: 10,
      maxPending: 20,
      onPressure: (saturated) => {
        if (!saturated) void b?.add(points(10)).catch(() => {});
      },
    });
    void b.add(points(30)).catch(() => {});
    for (let i = 0; i < 6; i++) {
      await tick();
      m.calls.at(-1)?.ack();
    }
    expect(m.maxInFlight()).toBe(1);
  });

  it('pipelines up to maxInFlight appends, in order, each caller settled by its own batch', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxPoints: 10, maxInFlight: 3 });
    const batches = [0, 1, 2, 3, 4].map((i) => state(b.add(points(10, `p${i}`))));
    await tick();
    expect(m.calls).toHaveLength(3); // full batches go at once, up to three
    expect(m.calls.map((c) => c.events[0]?.data.deviceId)).toEqual(['p0', 'p1', 'p2']);
    m.calls[1]?.fail();
    await tick();
    expect(batches.map((x) => x.value)).toEqual(['pending', 'rejected', 'pending', 'pending', 'pending']);
    expect(m.calls).toHaveLength(4); // the freed slot takes the next one
    m.calls[0]?.ack();
    m.calls[2]?.ack();
    await tick();
    m.calls[3]?.ack();
    m.calls[4]?.ack();
    await tick();
    expect(batches.map((x) => x.value)).toEqual(['resolved', 'rejected', 'resolved', 'resolved', 'resolved']);
    expect(m.maxInFlight()).toBe(3);
  });

  it('with a free slot, a partial batch goes after maxMs even while another append is in flight', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxPoints: 10, maxMs: 20, maxInFlight: 2 });
    void b.add(points(10)); // full: in flight, never acked in this test
    await tick();
    const lone = state(b.add(points(1, 'late')));
    await tick(5);
    expect(m.calls).toHaveLength(1);
    await tick(40);
    expect(m.calls).toHaveLength(2);
    expect(m.calls[1]?.events[0]?.data.deviceId).toBe('late');
    m.calls[1]?.ack();
    await tick();
    expect(lone.value).toBe('resolved');
  });

  it('close() waits for every append in flight', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxPoints: 10, maxInFlight: 4, maxMs: 10_000 });
    void b.add(points(25));
    const closing = state(b.close());
    await tick();
    expect(m.calls).toHaveLength(3);
    m.calls[2]?.ack();
    m.calls[0]?.ack();
    await tick();
    expect(closing.value).toBe('pending');
    m.calls[1]?.ack();
    await tick();
    expect(closing.value).toBe('resolved');
  });

  it('close() appends what is queued at once, then refuses new points', async () => {
    const m = manualLog();
    const b = batcher(m.log, { maxMs: 10_000 });
    const queued = state(b.add(points(5)));
    const closing = b.close();
    await tick();
    expect(m.calls).toHaveLength(1);
    m.calls[0]?.ack();
    await closing;
    await tick();
    expect(queued.value).toBe('resolved');
    await expect(b.add(points(1))).rejects.toSatisfy((e) => isGatewayError(e, 'GW_ERR_LOG_UNAVAILABLE'));
  });
});

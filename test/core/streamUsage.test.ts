import { describe, expect, it } from 'vitest';
import { watchStreamUsage } from '../../core/eventlog/streamUsage.js';
import type { Logger } from '../../core/logger.js';
import { registry } from '../../core/metrics.js';

const gauge = async (name: string) =>
  (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.stream === 'EVENTS')?.value;

describe('EVENTS stream size watch', () => {
  it('exports bytes and bound, and warns once when the stream passes 80 % of EVENTS_MAX_BYTES', async () => {
    const warnings: unknown[] = [];
    const logger = { warn: (o: unknown) => warnings.push(o) } as unknown as Logger;
    let bytes = 700;
    const watch = watchStreamUsage({ read: async () => ({ bytes, maxBytes: 1_000 }), logger, intervalMs: 3_600_000 });
    await watch.tick();
    expect([await gauge('fleetgate_eventlog_stream_bytes'), await gauge('fleetgate_eventlog_stream_max_bytes')]).toEqual([
      700, 1_000,
    ]);
    expect(warnings).toEqual([]);
    bytes = 850;
    await watch.tick();
    await watch.tick();
    expect(warnings).toEqual([expect.objectContaining({ stream: 'EVENTS', bytes: 850, maxBytes: 1_000, percent: 85 })]);
    watch.stop();
  });
});

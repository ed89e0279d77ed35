import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';
import { type SmsRig, startSmsRig } from './smsHarness.js';

let store: PostgresStore;
let smsru: FakeSmsRu;
let rig: SmsRig;

beforeAll(async () => {
  store = await freshPglite();
  smsru = await startFakeSmsRu({ apiKey: 'smsru-key-priority' });
  rig = await startSmsRig(
    store,
    {
      SMS_TEST_MODE: 'false',
      SMS_API_KEY: 'smsru-key-priority',
      SMSRU_BASE_URL: smsru.url,
      SMS_MAX_PER_SOURCE_PER_HOUR: '0',
    },
    { start: false, projections: [] },
  );
}, 60_000);
afterAll(async () => {
  await rig?.stop();
  await smsru?.close();
  await store?.close();
});

describe('priority under a backlog', () => {
  it('sends a new urgent SMS before a backlog of 1,000 low-priority ones', async () => {
    // The backlog arrives as the API writes a burst: coalesced log messages the runner splits.
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => rig.request(`+7900${String(i).padStart(7, '0')}`, `low ${i}`, { priority: 'low' })),
    );
    for (const r of rig.runners) await r.start();
    await until(() => smsru.sent.length >= 20, { timeoutMs: 20_000, what: 'the backlog is being sent' });
    const sentBefore = smsru.sent.length;
    await rig.request('+79999999999', 'URGENT: vehicle alarm', { priority: 'urgent' });
    await until(() => smsru.sent.some((m) => m.msg === 'URGENT: vehicle alarm'), {
      timeoutMs: 10_000,
      what: 'the urgent SMS is sent',
    });
    const position = smsru.sent.findIndex((m) => m.msg === 'URGENT: vehicle alarm');
    // Only the calls already in flight or taken (concurrency 4) may go before it.
    expect(position - sentBefore).toBeLessThanOrEqual(8);
    expect(position).toBeLessThan(200);
    expect(smsru.sent.filter((m) => m.msg.startsWith('low ')).length).toBeLessThan(1_000);
  });
});

import { describe, expect, it } from 'vitest';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { eventLogContract } from '../contracts/eventLog.contract.js';
import { startNatsServer } from '../support/natsServer.js';

eventLogContract('jetstream', async () => {
  const server = await startNatsServer();
  try {
    const log = await jetStreamEventLog({
      servers: server.url,
      name: 'fleetgate-contract',
      replicas: 1,
      eventsMaxAgeMs: 0,
      gpsMaxAgeMs: 3_600_000,
      dlqMaxAgeMs: 0,
      // Long enough for the re-sends of the dedupe test, short enough to keep the server's index small.
      duplicateWindowMs: 60_000,
      gpsDuplicateWindowMs: 10_000,
      timeoutMs: 3_000,
    });
    return {
      log,
      close: async () => {
        await log.close();
        await server.stop();
      },
    };
  } catch (e) {
    await server.stop();
    throw e;
  }
});

describe('jetstream event log: decoding', () => {
  it('decodes a GPS message once for every reader in the process, EVENTS messages once per reader', async () => {
    const server = await startNatsServer();
    const log = await jetStreamEventLog({
      servers: server.url,
      replicas: 1,
      eventsMaxAgeMs: 0,
      gpsMaxAgeMs: 3_600_000,
      dlqMaxAgeMs: 0,
      duplicateWindowMs: 60_000,
      gpsDuplicateWindowMs: 10_000,
      timeoutMs: 3_000,
    });
    try {
      const point = (n: number) =>
        newEvent({ type: 'test.point', subject: 'gps.reported.mqtt', source: 'test', data: { deviceId: 'd', ts: n } });
      await log.append('gps.reported.mqtt', [point(1), point(2)]);
      await log.append(
        'evt.sms.requested',
        newEvent({ type: 'sms.requested', subject: 'evt.sms.requested', source: 'test', data: {} }),
      );
      const abort = new AbortController();
      const first = async () => {
        for await (const m of log.follow('GPS', { fromSeq: 1, signal: abort.signal })) return m;
        throw new Error('follow ended');
      };
      const [a, b] = await Promise.all([first(), first()]);
      const [c] = await log.read('GPS', 1, { fromSeq: 1 });
      abort.abort();
      expect(a?.events.map((e) => (e.data as { ts: number }).ts)).toEqual([1, 2]);
      expect(b?.events).toBe(a?.events);
      expect(c?.events).toBe(a?.events);
      const [x] = await log.read('EVENTS', 1, { fromSeq: 1 });
      const [y] = await log.read('EVENTS', 1, { fromSeq: 1 });
      expect(x?.events).toEqual(y?.events);
      expect(x?.events).not.toBe(y?.events); // handlers may keep and change what they read
    } finally {
      await log.close();
      await server.stop();
    }
  });
});

import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
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

import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { eventLogContract } from '../contracts/eventLog.contract.js';
import { freshPglite } from '../support/stores.js';

eventLogContract('embedded on PGlite', async () => {
  const store = await freshPglite();
  const log = embeddedEventLog(store.sql, { pollMs: 50 });
  return {
    log,
    close: async () => {
      await log.close();
      await store.close();
    },
  };
});

// As the gateway runs on PGlite: idle polls back off to a minute, so redeliveries (ack wait, nak
// delays, dead letters) must come from the due times consumers keep, and appends from wake-ups.
eventLogContract('embedded on PGlite, the only writer (polling out of the picture)', async () => {
  const store = await freshPglite();
  const log = embeddedEventLog(store.sql, { pollMs: 60_000, onlyWriter: true });
  return {
    log,
    close: async () => {
      await log.close();
      await store.close();
    },
  };
});

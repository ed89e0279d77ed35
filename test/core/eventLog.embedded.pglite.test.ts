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

import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { eventLogContract } from '../contracts/eventLog.contract.js';
import { freshPostgresDb } from '../support/stores.js';

eventLogContract('embedded on Postgres', async () => {
  const store = await freshPostgresDb();
  const log = embeddedEventLog(store.sql, { pollMs: 50 });
  return {
    log,
    close: async () => {
      await log.close();
      await store.close();
    },
  };
});

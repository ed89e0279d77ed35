/**
 * Child process for the event-log crash test (test/core/eventLog.crash.test.ts). Appends the
 * deterministic events `start .. total-1` one per message (msgId = event id), `concurrency` in
 * flight, and prints `<event id> <seq> <new|dup>` on its own stdout line as soon as its append
 * resolved – so a line the parent has read is an acknowledged append. Prints
 * `done <appended> <duplicates>` at the end and exits 0.
 *
 * Usage: node --import tsx test/support/crashAppender.ts
 * Env:   CRASH_ADAPTER      jetstream | pglite | postgres
 *        CRASH_TARGET       NATS url | PGlite data dir | Postgres url
 *        CRASH_TOTAL        ids 0 .. CRASH_TOTAL-1 (default 10000)
 *        CRASH_START        first id to append (default 0)
 *        CRASH_CONCURRENCY  appends in flight (default 16)
 */
import { pathToFileURL } from 'node:url';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { migrate } from '../../core/stores/migrate.js';
import { openPostgres, type PostgresStore } from '../../core/stores/postgres.js';

export type CrashAdapter = 'jetstream' | 'pglite' | 'postgres';

/** Event i's id: a fixed UUID-shaped string, so a re-run re-sends the same message id. */
export const crashEventId = (i: number) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`;

/** Fixed time and ~200 bytes of data: the same event i in every run. */
export const crashEvent = (i: number): EventEnvelope => ({
  id: crashEventId(i),
  type: 'test.crashed',
  subject: `evt.crash.${i % 16}`,
  time: new Date(Date.UTC(2024, 0, 1) + i).toISOString(),
  source: 'test/crashAppender',
  data: { i, pad: 'x'.repeat(160) },
});

/** The JetStream settings of the test: the dedupe window must cover the re-run after the kill. */
export const crashJetStreamConfig = (servers: string) => ({
  servers,
  name: 'fleetgate-crash',
  replicas: 1,
  eventsMaxAgeMs: 0,
  gpsMaxAgeMs: 3_600_000,
  dlqMaxAgeMs: 0,
  duplicateWindowMs: 10 * 60_000,
  gpsDuplicateWindowMs: 10_000,
  timeoutMs: 10_000,
});

const main = async () => {
  const adapter = process.env.CRASH_ADAPTER as CrashAdapter;
  const target = process.env.CRASH_TARGET ?? '';
  const total = Number(process.env.CRASH_TOTAL ?? 10_000);
  const start = Number(process.env.CRASH_START ?? 0);
  const concurrency = Number(process.env.CRASH_CONCURRENCY ?? 16);
  if (!target || !['jetstream', 'pglite', 'postgres'].includes(adapter)) {
    throw new Error('CRASH_ADAPTER (jetstream|pglite|postgres) and CRASH_TARGET are required');
  }

  let store: PostgresStore | undefined;
  let log: EventLog;
  if (adapter === 'jetstream') {
    log = await jetStreamEventLog(crashJetStreamConfig(target));
  } else {
    store = await openPostgres(
      adapter === 'pglite' ? { pgliteDir: target, poolMax: 1 } : { databaseUrl: target, pgliteDir: '', poolMax: 4 },
    );
    await migrate({ postgres: store, gpsRetentionDays: 90 });
    log = embeddedEventLog(store.sql);
  }

  let next = start;
  let duplicates = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const event = crashEvent(i);
      const ack = await log.append(event.subject, event);
      if (ack.duplicate) duplicates++;
      // Right after the ack: in the pipe (or queued in this process) before the next append starts.
      process.stdout.write(`${event.id} ${ack.seq} ${ack.duplicate ? 'dup' : 'new'}\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));

  // Flush every queued line before the process ends (a pipe may be asynchronous).
  await new Promise<void>((resolve, reject) =>
    process.stdout.write(`done ${total - start} ${duplicates}\n`, (err) => (err ? reject(err) : resolve())),
  );
  await log.close();
  await store?.close();
};

// Run only as the child process; the test imports the helpers above.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`crashAppender failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    if (e instanceof Error && e.cause) process.stderr.write(`cause: ${String((e.cause as Error).stack ?? e.cause)}\n`);
    process.exitCode = 1;
  });
}

/**
 * Benchmarks: `npm run bench -- <name> [options]`. Without a name (or with an unknown one) it
 * lists them. Each bench is loaded only when asked for.
 */
import { exitCodeOf } from './results.js';

interface Bench {
  description: string;
  run(args: string[]): Promise<number>;
}

const benches: Record<string, Bench> = {
  eventlog: {
    description:
      'appends/s (single and batched, acked) and consumed/s for each event-log adapter, against raw JetStream; event-loop delay; chdb insert/query stalls. Options: --scale=F, --only=jetstream,embedded-pglite,embedded-postgres,chdb',
    run: async (args) => (await import('./eventlog.js')).runEventLogBench(args),
  },
  api: {
    description:
      'POST /api/v1/sms req/s and p50/p99 at 100 connections against a bare uWS endpoint, embedded and JetStream+Postgres. Options: --seconds=N, --only=embedded,jetstream, --roles=api (default api,projections)',
    run: async (args) => (await import('./api.js')).runApiBench(args),
  },
  gps: {
    description:
      'MQTT GPS points/s (QoS 1 and 0), p50/p99 publish→PUBACK, p99 publish→visible in ClickHouse, server CPU/RSS, from a separate load process, against Mosquitto :1883 and bare Aedes; RSS with idle devices. Options: --devices=N, --seconds=N, --rate=N, --idle=N, --window=N, --warmup=N, --only=mosquitto,aedes,embedded,jetstream,jetstream-split (default all but the JetStream ones), --roles=R (default ingest,api,projections), --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./gps.js')).runGpsBench(args),
  },
  ws: {
    description:
      'phones on /v1/ws/driver (default 5,000) from a separate process: acks/s and p99 send→ack against a bare uWS JSON ceiling, a fixed-rate phase with bursts, live-feed latency, server RSS. Options: --connections=N, --seconds=N, --rate=N, --targets=embedded,jetstream, --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./ws.js')).runWsBench(args),
  },
  notify: {
    description:
      'mixed notifications (SMS.ru, Twilio, e-mail, push, Telegram) through the queue to fakes in this process: p50/p99 request→provider call at a fixed rate, then N at once: sent/s, queue depth over time, duplicates/missing; embedded and JetStream+Postgres. Options: --count=N (10000), --rate=N (200), --seconds=N (10), --http-concurrency=N (64), --handler-concurrency=N (256, the most HANDLER_CONCURRENCY allows), --users=N (300), --chats=N (2000), --kinds=smsru,twilio,email-template,email-plain,push,telegram (narrow the mix), --only=embedded,jetstream,jetstream-split (jetstream-split: handlers in a second process), --env=NAME=VALUE (gateway tuning, repeatable), --cpu-prof=DIR (gateway profile)',
    run: async (args) => exitCodeOf(await (await import('./notify.js')).runNotifyBench(args)),
  },
  records: {
    description:
      'CRM records: POST /api/v1/records/applications/batch (answered once the read model holds them) rows/s against a plain batched INSERT … ON CONFLICT of the same rows, first insert and then update, embedded and JetStream+Postgres. Options: --rows=N (20000), --batch=N (1000), --concurrency=N (4), --only=embedded,jetstream',
    run: async (args) => (await import('./records.js')).runRecordsBench(args),
  },
  payments: {
    description:
      'payments created (Prefer: wait) and completed by YooKassa webhooks against its fake, through the gateway process: p50/p99 request→link and webhook→GET succeeded, lost/doubled. Options: --count=N (5000), --rate=N (100), --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./payments.js')).runPaymentsBench(args),
  },
  export: {
    description:
      "exports: 1,000,000 GPS rows (chdb) to CSV, NDJSON and XLSX and 100,000 applications to PDF: rows/s, peak RSS, ClickHouse's own CSVWithNames of the same query, GET /api/v1/exports p99 during each export. Options: --gps-rows=N, --pdf-rows=N",
    run: async (args) => (await import('./export.js')).runExportBench(args),
  },
  telegram: {
    description:
      'Telegram bot: linked chats sending commands through /webhooks/telegram to the gateway process (bot against the Bot API fake): p50/p99 update → reply, missing/extra replies. Options: --chats=N (200), --rate=N (100), --seconds=N (30)',
    run: async (args) => (await import('./telegram.js')).runTelegramBench(args),
  },
};

const usage = () => {
  console.log('usage: npm run bench -- <name> [options]\n\nbenches:');
  for (const [name, b] of Object.entries(benches)) console.log(`  ${name.padEnd(10)} ${b.description}`);
};

const main = async (): Promise<number> => {
  const [name, ...args] = process.argv.slice(2);
  if (name === undefined || name === '--help' || name === '-h') {
    usage();
    return 0;
  }
  const bench = Object.hasOwn(benches, name) ? benches[name] : undefined;
  if (!bench) {
    console.error(`unknown bench "${name}"\n`);
    usage();
    return 2;
  }
  return bench.run(args);
};

main().then(
  (code) => {
    process.exitCode = code;
    // Every connection, server and timer is closed by now; if something still holds the loop,
    // say what and leave anyway rather than hang.
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
      console.error(
        `bench: ${handles.length} handle(s) still open after 10 s, exiting:`,
        handles.map((h) => (h as object)?.constructor?.name),
      );
      process.exit(code);
    }, 10_000).unref();
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

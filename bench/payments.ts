/**
 * `npm run bench -- payments`: payments created and completed by webhooks against the YooKassa
 * fake (in this process), through the real gateway process (`fleetgate start --roles
 * api,projections,handlers`, embedded log on Postgres, live mode pointed at the fake).
 *
 * - Phase 1: `--count` payments (5,000) at `--rate` per second (100), open loop, each
 *   `POST /api/v1/payments` with `Prefer: wait=10`: p50/p99 request → 201 with the link.
 * - Phase 2: each payment paid at the fake and its notification posted to `/webhooks/yookassa`
 *   at the same rate; `GET /api/v1/payments/{id}` polled every 20 ms until `succeeded`:
 *   p50/p99 webhook → state visible.
 * - Then: payments at the provider, rows in the ledger and succeeded ones must all equal the count
 *   (lost or doubled are reported).
 * - Cost, steadier than latency on a shared machine: the gateway's CPU time and the Postgres
 *   transactions of the scratch database (pg_stat_database), while idle (4 s before phase 1;
 *   `--idle=0` skips it) and per payment in each phase.
 * Payments are numbered, not random: the seed is recorded only for the run's shape.
 */
import { join } from 'node:path';
import postgres from 'postgres';
import { startFakeYooKassa } from '../test/fakes/yookassa.js';
import { ADMIN_KEY, startGateway, stop } from './api.js';
import { benchSeed, figure, percentileSeries, rateSeries, type Sample, series } from './report/figures.js';
import type { BenchFigure, BenchResult } from './results.js';
import { cpuProfileArgs, createScratchDatabase, fmtInt, fmtMs, processCpuSeconds, table, tempDir } from './support.js';

const IDLE_SETTLE_MS = 3_000;
const IDLE_WINDOW_MS = 4_000;
const YK = { shopId: 'bench-shop', secretKey: 'bench-secret-key' };
const arg = (args: string[], name: string, def: number) =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number) : Number.NaN;
};

/** Starts `fn(i)` at `rate` per second regardless of how long earlier calls take (open loop). */
const paced = async (n: number, rate: number, fn: (i: number) => Promise<void>) => {
  const start = performance.now();
  const all: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    all.push(fn(i));
  }
  await Promise.all(all);
  return (performance.now() - start) / 1000;
};

export const runPaymentsBench = async (args: string[]): Promise<BenchResult> => {
  const startedAt = new Date();
  const count = arg(args, 'count', 5_000);
  const rate = arg(args, 'rate', 100);
  const idle = arg(args, 'idle', 1) !== 0;
  /** Writes the gateway's CPU profile (node --cpu-prof) into this directory when it exits. */
  const cpuProfDir = args.find((a) => a.startsWith('--cpu-prof='))?.split('=')[1];
  const yk = await startFakeYooKassa(YK);
  const db = await createScratchDatabase('fg_bench_payments');
  const dir = await tempDir('fg-bench-payments-');
  const g = await startGateway(
    {
      DATABASE_URL: db.url,
      DATA_DIR: join(dir.dir, 'data'),
      PAYMENT_TEST_MODE: 'false',
      PAYMENT_PROVIDER: 'yookassa',
      YANDEX_KASSA_SHOP_ID: YK.shopId,
      YANDEX_KASSA_SECRET_KEY: YK.secretKey,
      YOOKASSA_API_URL: yk.url,
      YOOKASSA_WEBHOOK_ALLOWLIST: '127.0.0.1,::1,::ffff:127.0.0.1',
      WEBHOOK_RATE_LIMIT_PER_IP: '0',
      // 100 payments/s with provider calls of a few ms: 4 in flight (the default) caps a handler near 20/s here.
      HANDLER_CONCURRENCY: process.env.HANDLER_CONCURRENCY ?? '64',
    },
    'api,projections,handlers',
    cpuProfileArgs(cpuProfDir, 'gateway-payments'),
  );
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const ids: (string | undefined)[] = new Array(count);
  const providerIds: (string | undefined)[] = new Array(count);
  const createMs: number[] = [];
  const visibleMs: number[] = [];
  /** [completed at, latency] in ms since each phase started: p99 over time. */
  const createTimeline: Sample[] = [];
  const visibleTimeline: Sample[] = [];
  let phaseStart = 0;
  let createErrors = 0;
  let webhookErrors = 0;
  /** Payments paid at the fake whose webhook the gateway accepted: each must end succeeded. */
  let paid = 0;
  const stats = postgres(db.url, { max: 1, onnotice: () => {} });
  /** Gateway CPU-seconds and committed + rolled back transactions of the bench database so far. */
  const cost = async () => {
    // The statistics collector publishes at most every PGSTAT_MIN_INTERVAL; ask for fresh numbers.
    await stats`SELECT pg_stat_clear_snapshot()`;
    const [row] = await stats<{ xacts: string }[]>`
      SELECT xact_commit + xact_rollback AS xacts FROM pg_stat_database WHERE datname = current_database()`;
    return { cpu: processCpuSeconds(g.child.pid as number), xacts: Number(row?.xacts ?? 0) };
  };
  const costRows: (string | number)[][] = [];
  const cpuUsPer: Record<string, number> = {};
  const costOf = (
    phase: string,
    from: { cpu: number; xacts: number },
    to: { cpu: number; xacts: number },
    per: number,
    unit: string,
  ) => {
    cpuUsPer[phase] = ((to.cpu - from.cpu) * 1e6) / per;
    costRows.push([phase, (((to.cpu - from.cpu) * 1000) / per).toFixed(1), ((to.xacts - from.xacts) / per).toFixed(1), unit]);
  };
  try {
    // Start-up's own queries settle and idle polls reach their back-off first; backends report
    // their counts to pg_stat_database up to a second late, so the window is several seconds.
    if (idle) await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
    const idle0 = await cost();
    if (idle) await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
    const idle1 = await cost();
    if (idle) costOf('idle', idle0, idle1, IDLE_WINDOW_MS / 1000, 'per second');
    phaseStart = performance.now();
    const createSeconds = await paced(count, rate, async (i) => {
      const t0 = performance.now();
      try {
        const r = await fetch(`${g.url}/api/v1/payments`, {
          method: 'POST',
          headers: { ...headers, prefer: 'wait=10', 'idempotency-key': `bench-${i}` },
          body: JSON.stringify({
            orderId: `bench-${i}`,
            amount: 10_000 + i,
            currency: 'RUB',
            description: `Bench trip ${i}`,
            returnUrl: 'https://crm.example/ok',
          }),
        });
        const body = (await r.json()) as { id?: string; paymentLink?: string; providerPaymentId?: string };
        if (r.status !== 201 || !body.paymentLink) {
          createErrors++;
          return;
        }
        createMs.push(performance.now() - t0);
        createTimeline.push([performance.now() - phaseStart, performance.now() - t0]);
        ids[i] = body.id;
        providerIds[i] = body.providerPaymentId;
      } catch {
        createErrors++;
      }
    });

    const created = await cost();
    costOf('request → link', idle1, created, count, 'per payment');
    phaseStart = performance.now();
    const webhookSeconds = await paced(count, rate, async (i) => {
      const id = ids[i];
      const providerId = providerIds[i];
      if (!id || !providerId) return;
      const t0 = performance.now();
      const res = await fetch(`${g.url}/webhooks/yookassa`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: yk.pay(providerId),
      });
      await res.arrayBuffer();
      if (res.status !== 200) {
        webhookErrors++;
        return;
      }
      paid++;
      const deadline = t0 + 30_000;
      while (performance.now() < deadline) {
        const r = await fetch(`${g.url}/api/v1/payments/${id}`, { headers });
        const p = r.status === 200 ? ((await r.json()) as { status: string }) : undefined;
        if (p?.status === 'succeeded') {
          visibleMs.push(performance.now() - t0);
          visibleTimeline.push([performance.now() - phaseStart, performance.now() - t0]);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      webhookErrors++;
    });

    costOf('webhook → succeeded', created, await cost(), count, 'per payment');
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const readLedger = async () =>
      (
        await sql<{ rows: string; succeeded: string; distinct_provider: string }[]>`
          SELECT count(*) AS rows, count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
                 count(DISTINCT provider_payment_id) AS distinct_provider FROM payment_transactions`
      )[0];
    // On a loaded machine the last webhooks may still be folding: lost means never, not late.
    let ledger = await readLedger();
    for (let wait = 0; Number(ledger?.succeeded ?? 0) < paid && wait < 30; wait++) {
      await new Promise((r) => setTimeout(r, 1_000));
      ledger = await readLedger();
    }
    await sql.end();
    const atProvider = yk.payments.size;
    console.log(`\npayments bench: ${fmtInt(count)} payments at ${rate}/s, embedded log on Postgres, YooKassa fake\n`);
    console.log(
      table(
        ['phase', 'ok', 'errors', 'seconds', 'p50', 'p99', 'max', 'target p99'],
        [
          [
            'request → link (201)',
            fmtInt(createMs.length),
            createErrors,
            createSeconds.toFixed(1),
            fmtMs(pct(createMs, 50)),
            fmtMs(pct(createMs, 99)),
            fmtMs(pct(createMs, 100)),
            '300 ms',
          ],
          [
            'webhook → GET succeeded',
            fmtInt(visibleMs.length),
            webhookErrors,
            webhookSeconds.toFixed(1),
            fmtMs(pct(visibleMs, 50)),
            fmtMs(pct(visibleMs, 99)),
            fmtMs(pct(visibleMs, 100)),
            '200 ms',
          ],
        ],
      ),
    );
    console.log(`\n${table(['cost', 'gateway CPU ms', 'Postgres xacts', ''], costRows)}`);
    // Lost: paid (webhook accepted) but never succeeded in the ledger. A create that timed out
    // without a link (Prefer: wait) is an error, not a loss: the bench never pays it.
    const lost = Math.max(0, paid - Number(ledger?.succeeded ?? 0));
    const doubled = atProvider - Number(ledger?.distinct_provider ?? 0) + (Number(ledger?.rows ?? 0) - count);
    console.log(
      `\nat the provider ${fmtInt(atProvider)}, ledger rows ${fmtInt(Number(ledger?.rows))}, paid ${fmtInt(paid)}, succeeded ${fmtInt(Number(ledger?.succeeded))}: lost ${lost}, doubled ${doubled}`,
    );
    const figures: BenchFigure[] = [
      figure({
        key: 'payments.link.p99_ms',
        label: `p99 request → link at ${rate}/s`,
        value: pct(createMs, 99),
        unit: 'ms',
        target: { kind: 'bound', atMost: 300, text: 'p99 < 300 ms at 100/s (issue 15)' },
        note: `p50 ${fmtMs(pct(createMs, 50))} ms; ${createErrors} errors`,
      }),
      figure({
        key: 'payments.visible.p99_ms',
        label: 'p99 webhook → GET succeeded',
        value: pct(visibleMs, 99),
        unit: 'ms',
        target: { kind: 'bound', atMost: 200, text: 'p99 < 200 ms (issue 15)' },
        note: `p50 ${fmtMs(pct(visibleMs, 50))} ms; ${webhookErrors} errors`,
      }),
      figure({
        key: 'payments.lost_or_doubled',
        label: 'payments lost or doubled',
        value: lost + doubled,
        unit: 'payments',
        target: { kind: 'bound', atMost: 0, text: '0 lost or doubled (issue 15)' },
        note: `lost ${lost}, doubled ${doubled}; ${fmtInt(atProvider)} at the provider, ${fmtInt(paid)} paid, ${fmtInt(Number(ledger?.succeeded))} succeeded`,
      }),
      ...Object.entries(cpuUsPer)
        .filter(([phase]) => phase !== 'idle')
        .map(([phase, us]) => ({
          key: `payments.cpu.${phase.startsWith('request') ? 'create' : 'webhook'}`,
          label: `gateway CPU per payment, ${phase}`,
          value: us,
          unit: 'µs CPU',
        })),
    ];
    return {
      bench: 'payments',
      seed: benchSeed(),
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      options: { count, rate, idle },
      figures,
      series: [
        series({
          key: 'payments.link.p99',
          label: 'p99 request → link, per second',
          unit: 'ms',
          points: percentileSeries(createTimeline, 0, 99),
        }),
        series({ key: 'payments.links', label: 'links per second', unit: 'payments/s', points: rateSeries(createTimeline, 0) }),
        series({
          key: 'payments.visible.p99',
          label: 'p99 webhook → GET succeeded, per second',
          unit: 'ms',
          points: percentileSeries(visibleTimeline, 0, 99),
        }),
      ],
      notes: [
        `${fmtInt(count)} payments at ${rate}/s through the gateway process (api, projections, handlers), embedded log on Postgres, YooKassa fake in the bench process.`,
        ...(idle && cpuUsPer.idle !== undefined ? [`gateway CPU while idle: ${fmtInt(cpuUsPer.idle / 1000)} ms per second`] : []),
      ],
      // Errors (no link within Prefer: wait, state not visible within 30 s) are in the latency figures' notes.
      correct: lost === 0 && doubled === 0,
    };
  } finally {
    await stats.end();
    await stop(g.child);
    await yk.close();
    await db.drop();
    await dir.remove();
  }
};

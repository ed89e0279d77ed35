/**
 * `npm run bench -- ws`: N phone connections (default 5,000) on `/v1/ws/driver` sending points,
 * from a separate load process (dist/bench/wsLoad.js), against in the same run a bare uWS server
 * that only parses the JSON and acks (dist/bench/bareWs.js): the ceiling. Phases: closed loop
 * (each connection keeps `window` messages in flight) for the maximum rate, then an open loop at
 * `--rate` points/s in total (default 20,000) with bursts (`locations` batches) and one
 * `/v1/ws/live` subscriber measuring ack → seen live. Server RSS from /proc. The gateway runs
 * embedded (PGlite log) and with JetStream + the machine's Postgres (`--targets=embedded,jetstream`,
 * the default; either alone). `jetstream-split` (only when named): the same, with the projections
 * in a second process, so the phones' event loop runs beside them instead of between them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';
import { ADMIN_KEY, startGateway, stop, waitForLine } from './api.js';
import {
  buckets,
  cpuProfileArgs,
  createScratchDatabase,
  durableShare,
  fmtDurable,
  fmtInt,
  fmtMs,
  metricMax,
  pool,
  startNatsServer,
  table,
  tempDir,
} from './support.js';
import type { WsLoadConfig, WsLoadResult } from './wsLoad.js';

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

let loads = 0;
const load = (cfg: WsLoadConfig) =>
  new Promise<WsLoadResult>((resolve, reject) => {
    const file = join(tmpdir(), `fg-wsload-${process.pid}-${++loads}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    const child = spawn(process.execPath, [join(packageRoot, 'dist/bench/wsLoad.js'), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => {
      rmSync(file, { force: true });
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop() as string));
      else reject(new Error(`load exited ${code}`));
    });
  });

/** Runs `phase` while sampling the server's peak RSS. */
const sampled = async <T>(pid: number, phase: () => Promise<T>) => {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 200);
  try {
    return { result: await phase(), peakRss: peak };
  } finally {
    clearInterval(timer);
  }
};

/**
 * Runs a phase between two scrapes of the gateway's /metrics: its own share of send → ack (points
 * queued → durable, `fleetgate_gps_durable_seconds{source="ws"}`) and its worst event-loop delay.
 */
const withInternals = async <T>(metricsUrl: string, phase: () => Promise<T>) => {
  const scrape = async () => (await fetch(`${metricsUrl}/metrics`)).text();
  const before = buckets(await scrape(), 'fleetgate_gps_durable_seconds', 'source="ws"');
  const result = await phase();
  const text = await scrape();
  const after = buckets(text, 'fleetgate_gps_durable_seconds', 'source="ws"');
  return {
    result,
    /** One line for the report. */
    line: (phase: string) =>
      `  ${phase}: ${fmtDurable(durableShare(before, after))}, event-loop delay p99 ${fmtMs(metricMax(text, 'fleetgate_nodejs_eventloop_lag_p99_seconds') * 1000)} ms`,
  };
};

const TARGET_NAMES: Record<string, string> = {
  embedded: 'fleetgate embedded',
  jetstream: 'fleetgate JetStream+PG',
  'jetstream-split': 'fleetgate JetStream+PG, projections apart',
};

export const runWsBench = async (args: string[]): Promise<number> => {
  const opt = (k: string, d: number) => Number(args.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
  const connections = opt('connections', 5_000);
  const seconds = opt('seconds', 10);
  const rate = opt('rate', 20_000);
  const targets = (args.find((a) => a.startsWith('--targets='))?.split('=')[1] ?? 'embedded,jetstream').split(',');
  /** Writes the gateway's CPU profile (node --cpu-prof) into this directory when it exits. */
  const cpuProfDir = args.find((a) => a.startsWith('--cpu-prof='))?.split('=')[1];
  const rows: (string | number)[][] = [];
  const row = (name: string, r: WsLoadResult, rss: number) => {
    rows.push([
      name,
      fmtInt(r.acked / r.seconds),
      fmtMs(r.ackP50),
      fmtMs(r.ackP99),
      fmtInt(r.errors),
      fmtInt(r.closed),
      fmtMs(r.liveP99),
      fmtInt(rss),
    ]);
    console.error(
      `  ${name}: ${fmtInt(r.acked / r.seconds)} acks/s, p99 ${fmtMs(r.ackP99)} ms, errors ${r.errors} ${JSON.stringify(r.errorCodes ?? {})}, closed ${r.closed}`,
    );
  };

  const bare: ChildProcess = spawn(process.execPath, [join(packageRoot, 'dist/bench/bareWs.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const barePort = await waitForLine(bare, /^(\d+)\n/m, 10_000);
  let ceiling: WsLoadResult;
  let floor: WsLoadResult;
  try {
    const s = await sampled(bare.pid as number, () =>
      load({ url: `ws://127.0.0.1:${barePort}/`, connections, seconds, perSecond: 0, window: 4 }),
    );
    ceiling = s.result;
    row('bare uWS (parse + ack), closed loop', s.result, s.peakRss);
    // The same paced load as the gateway's latency phase: what this machine and load generator
    // measure for a server that does no work (the floor under the p99 send→ack target).
    const paced = await sampled(bare.pid as number, () =>
      load({ url: `ws://127.0.0.1:${barePort}/`, connections, seconds, perSecond: rate / connections, burstShare: 0.05 }),
    );
    floor = paced.result;
    row(`bare uWS (parse + ack) at ${fmtInt(rate)} points/s + bursts`, paced.result, paced.peakRss);
  } finally {
    await stop(bare);
  }

  const gatewayResults: { target: string; durable: WsLoadResult; steady: WsLoadResult }[] = [];
  /** Lines on the gateway's own share of each phase (from its /metrics). */
  const inside: string[] = [];
  for (const target of targets) {
    const dir = await tempDir('fg-bench-ws-');
    const distributed = target === 'jetstream' || target === 'jetstream-split';
    const [nats, db] = distributed
      ? await Promise.all([startNatsServer(), createScratchDatabase('fg_bench_ws')])
      : [undefined, undefined];
    const env = {
      DATA_DIR: dir.dir,
      WS_MAX_MESSAGES_PER_SECOND: '1000',
      ...(nats && db ? { NATS_URL: nats.url, DATABASE_URL: db.url } : {}),
    };
    const split = target === 'jetstream-split';
    const gw = await startGateway(
      env,
      split ? 'ingest,api' : 'ingest,api,projections',
      cpuProfileArgs(cpuProfDir, `gateway-ws-${target}`),
    );
    const name = TARGET_NAMES[target] ?? target;
    let projDir: Awaited<ReturnType<typeof tempDir>> | undefined;
    let projector: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      if (split) {
        projDir = await tempDir('fg-bench-ws-proj-');
        projector = await startGateway(
          { ...env, DATA_DIR: projDir.dir },
          'projections,api',
          cpuProfileArgs(cpuProfDir, `projector-ws-${target}`),
        );
      }
      const tokens: string[] = [];
      await pool(connections, 32, async (n) => {
        const res = await fetch(`${gw.url}/api/v1/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: `phone-${n}`, kind: 'phone' }),
        });
        tokens[n] = ((await res.json()) as { token: string }).token;
      });
      const url = `${gw.url.replace('http', 'ws')}/v1/ws/driver`;
      const pid = gw.child.pid as number;
      const maxRun = await withInternals(gw.metricsUrl, () =>
        sampled(pid, () => load({ url, tokens, connections, seconds, perSecond: 0, window: 4 })),
      );
      const max = maxRun.result;
      row(`${name}, closed loop`, max.result, max.peakRss);
      inside.push(maxRun.line(`${name}, closed loop`));
      const atRun = await withInternals(gw.metricsUrl, () =>
        sampled(pid, () =>
          load({
            url,
            tokens,
            connections,
            seconds,
            perSecond: rate / connections,
            burstShare: 0.05,
            live: { url: `${gw.url.replace('http', 'ws')}/v1/ws/live?key=${ADMIN_KEY}` },
          }),
        ),
      );
      const at = atRun.result;
      row(`${name} at ${fmtInt(rate)} points/s + bursts, live subscriber`, at.result, at.peakRss);
      inside.push(atRun.line(`${name} at ${fmtInt(rate)} points/s`));
      gatewayResults.push({ target: name, durable: max.result, steady: at.result });
    } finally {
      if (projector) await stop(projector.child);
      await projDir?.remove();
      await stop(gw.child);
      await dir.remove();
      await nats?.stop();
      await db?.drop();
    }
  }

  console.log(`\n${fmtInt(connections)} phone connections, ${seconds} s per phase (acks only after the durable append)\n`);
  console.log(table(['phase', '>acks/s', '>p50 ms', '>p99 ms', '>errors', '>closed', '>live p99 ms', '>peak RSS MiB'], rows));
  if (inside.length > 0) console.log(`\ngateway internals per phase (from its /metrics):\n${inside.join('\n')}`);
  const checks = gatewayResults.flatMap(({ target, durable, steady }) => {
    const ratio = durable.acked / durable.seconds / (ceiling.acked / ceiling.seconds);
    return [
      [`${target}: durable acks ≥ 25% of the bare uWS ceiling: ${(ratio * 100).toFixed(1)}%`, ratio >= 0.25],
      [
        `${target}: p99 send→ack < 50 ms at ${fmtInt(rate)} points/s: ${fmtMs(steady.ackP99)} ms at ${fmtInt(steady.acked / steady.seconds)}/s`,
        steady.ackP99 < 50,
      ],
      [
        `${target}: live subscriber sees a point < 250 ms p99 after its ack: ${fmtMs(steady.liveP99)} ms (${fmtInt(steady.liveSeen)} seen)`,
        steady.liveP99 < 250,
      ],
    ] as const;
  });
  console.log('\ntargets:');
  for (const [text, ok] of checks) console.log(`  ${ok ? 'PASS' : 'MISS'} ${text}`);
  console.log(
    `  floor for send→ack: bare uWS (stores nothing) p99 ${fmtMs(floor.ackP99)} ms at ${fmtInt(floor.acked / floor.seconds)}/s under the same paced load`,
  );
  return checks.every(([, ok]) => ok) ? 0 : 1;
};

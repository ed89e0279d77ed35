/**
 * `npm run bench -- api`: POST /api/v1/sms (202 after the durable append) at 100 connections,
 * beside a bare uWS endpoint that answers 202 without work, in the same run. The gateway runs as
 * its real process (`fleetgate start --roles api,projections`); the load runs in processes of its
 * own (bench/load/httpLoad.ts): `wrk` for the maxima when it is installed (else autocannon), and
 * autocannon for the fixed rate. Against the bare endpoint both tools run, so the report says
 * which costs less CPU per request.
 *
 * CPU per request: CPU-seconds over the phase / requests answered 2xx in it, for the server
 * process (all its threads), the private nats-server and the Postgres backends of the scratch
 * database, each. A phase whose load process (per wrk thread) reached 90% of a core is flagged
 * `loadSaturated` and not judged.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { GLIBC_MALLOC_ENV, V8_MEMORY_FLAGS } from '../core/mallocTuning.js';
import { packageRoot } from '../core/paths.js';
import { type HttpLoadResult, type HttpLoadSpec, runAutocannon, runWrk, wrkAvailable } from './load/httpLoad.js';
import { type BenchFigure, type BenchResult, type BenchSeries, judge } from './results.js';
import {
  cpuMeter,
  cpuProfileArgs,
  createScratchDatabase,
  findPids,
  fmtInt,
  fmtMs,
  freePort,
  LOAD_SATURATED_SHARE,
  pgBackendPids,
  startNatsServer,
  table,
  tempDir,
  usPer,
} from './support.js';

export const ADMIN_KEY = 'bench-admin-key-0123456789abcdefghijklmnopqrstuv';
const CONNECTIONS = 100;

export const waitForLine = (child: ChildProcess, re: RegExp, ms: number) =>
  new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms:\n${out.slice(-2000)}`)), ms);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? m[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${out.slice(-2000)}`)));
  });

export const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
  });

export const startGateway = async (env: Record<string, string>, roles: string, execArgv: string[] = []) => {
  const port = await freePort();
  const metricsPort = await freePort();
  // Node/V8 flags for the gateway alone (not the load processes), e.g. GC experiments; on the command
  // line rather than in NODE_OPTIONS, which refuses some V8 flags (--single-threaded-gc). Without
  // them, what `npm start` runs with.
  const benchFlags = process.env.BENCH_GATEWAY_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [...V8_MEMORY_FLAGS];
  const child = spawn(
    process.execPath,
    [...benchFlags, ...execArgv, join(packageRoot, 'dist/core/cli.js'), 'start', '--roles', roles],
    {
      env: {
        // What `npm start` runs with (unless this shell sets other values).
        ...GLIBC_MALLOC_ENV,
        ...process.env,
        HTTP_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        MQTT_PORT: String(await freePort()),
        HTTP_HOST: '127.0.0.1',
        ADMIN_API_KEY: ADMIN_KEY,
        LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_KEY: '0',
        RATE_LIMIT_PER_IP: '0',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 90_000;
  while (
    !(await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop(child);
      throw new Error(`gateway did not get ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  /** `metricsUrl`: the internal listener, where `/metrics` is served. */
  return { url: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}`, child };
};

interface ApiPhase {
  /** Stable key part: `bare`, `embedded`, `jetstream`. */
  target: string;
  name: string;
  /** `max` or `rate`. */
  kind: 'max' | 'rate';
  load: HttpLoadResult;
  /** 2xx answers. */
  ok: number;
  /** CPU-seconds over the phase. */
  cpu: { server: number; nats?: number; pg?: number };
  /** The load's share of a core, per wrk thread / autocannon process. */
  loadShare: number;
  loadSaturated: boolean;
}

export const runApiBench = async (args: string[]): Promise<BenchResult> => {
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const seconds = Number(opt('seconds') ?? 10);
  const compareTools = opt('compare-tools') !== '0';
  const connections = Number(opt('connections') ?? CONNECTIONS);
  const rate = Number(opt('rate') ?? 5_000);
  const only = opt('only')?.split(',');
  const want = (n: string) => !only || only.includes(n);
  const roles = opt('roles') ?? 'api,projections';
  /** The closed-loop tool: wrk when installed (it leaves the most headroom), else autocannon. */
  const tool = opt('load') ?? (wrkAvailable() ? 'wrk' : 'autocannon');
  if (tool === 'wrk' && !wrkAvailable()) throw new Error('--load=wrk: wrk is not installed (apt-get install -y wrk)');
  const threads = Number(opt('load-threads') ?? 1);
  const cpuProfDir = opt('cpu-prof');
  /** The request body is fixed: the seed is recorded for the report's sake only. */
  const seed = Number(opt('seed') ?? 1);
  const startedAt = new Date();
  const sms = JSON.stringify({ to: '+79991234567', text: 'Your driver is on the way', priority: 'normal' });
  const phases: ApiPhase[] = [];

  const measure = async (
    target: string,
    name: string,
    kind: 'max' | 'rate',
    pids: { server: number; nats?: number; pgDatabase?: string },
    run: () => Promise<HttpLoadResult>,
  ) => {
    const stopCpu = cpuMeter({
      server: () => [pids.server],
      nats: () => (pids.nats ? [pids.nats] : []),
      pg: () => (pids.pgDatabase ? pgBackendPids(pids.pgDatabase) : []),
    });
    const load = await run();
    const { cpu } = stopCpu();
    const loadShare = load.loadCpuSeconds / load.seconds / load.loadThreads;
    const ok = load.total - load.non2xx;
    const phase: ApiPhase = {
      target,
      name,
      kind,
      load,
      ok,
      cpu: {
        server: cpu.server ?? Number.NaN,
        ...(pids.nats ? { nats: cpu.nats } : {}),
        ...(pids.pgDatabase ? { pg: cpu.pg } : {}),
      },
      loadShare,
      loadSaturated: loadShare >= LOAD_SATURATED_SHARE,
    };
    phases.push(phase);
    console.error(
      `  ${name}: ${fmtInt(load.rps)} req/s, p99 ${fmtMs(load.p99)} ms, failures ${load.errors + load.non2xx}, ` +
        `server ${fmtInt(usPer(phase.cpu.server, ok))} µs CPU/request` +
        (phase.cpu.nats !== undefined
          ? ` (+nats ${fmtInt(usPer(phase.cpu.nats, ok))}, +pg ${fmtInt(usPer(phase.cpu.pg, ok))})`
          : '') +
        `, ${load.tool} ${fmtInt(usPer(load.loadCpuSeconds, load.total))} µs CPU/request at ${fmtInt(loadShare * 100)}% of a core${phase.loadSaturated ? ' (SATURATED)' : ''}`,
    );
    return phase;
  };
  const spec = (url: string, extra: Partial<HttpLoadSpec> = {}): HttpLoadSpec => ({
    url,
    connections,
    seconds,
    headers: { 'content-type': 'application/json' },
    body: sms,
    threads,
    ...extra,
  });
  const maxLoad = (s: HttpLoadSpec) => (tool === 'wrk' ? runWrk(s) : runAutocannon(s));

  const bare = spawn(process.execPath, [join(packageRoot, 'dist/bench/bareUws.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const barePort = await waitForLine(bare, /^(\d+)\n/m, 10_000);
  try {
    const server = bare.pid as number;
    const url = `http://127.0.0.1:${barePort}/`;
    console.error(`bare uWS (pid ${server})`);
    await measure('bare', `bare uWS 202, max (${tool})`, 'max', { server }, () => maxLoad(spec(url)));
    // The other tool against the same endpoint: which costs less CPU per request (not with --compare-tools=0).
    if (compareTools && tool === 'wrk')
      await measure('bare', 'bare uWS 202, max (autocannon)', 'max', { server }, () => runAutocannon(spec(url)));
    else if (compareTools && wrkAvailable())
      await measure('bare', 'bare uWS 202, max (wrk)', 'max', { server }, () => runWrk(spec(url)));
    if (rate > 0)
      await measure('bare', `bare uWS 202 @${fmtInt(rate)}/s`, 'rate', { server }, () => runAutocannon(spec(url, { rate })));

    const targets: {
      key: string;
      name: string;
      env: () => Promise<{ env: Record<string, string>; natsPort?: number; pgDatabase?: string; cleanup(): Promise<void> }>;
    }[] = [
      {
        key: 'embedded',
        name: 'embedded (PGlite)',
        env: async () => {
          const dir = await tempDir('fg-bench-api-');
          return { env: { DATA_DIR: dir.dir }, cleanup: dir.remove };
        },
      },
      {
        key: 'jetstream',
        name: 'JetStream + Postgres',
        env: async () => {
          const [nats, db, dir] = await Promise.all([
            startNatsServer(),
            createScratchDatabase('fg_bench_api'),
            tempDir('fg-bench-api-'),
          ]);
          return {
            env: { DATA_DIR: dir.dir, NATS_URL: nats.url, DATABASE_URL: db.url },
            natsPort: nats.port,
            pgDatabase: db.name,
            cleanup: async () => {
              await nats.stop();
              await db.drop();
              await dir.remove();
            },
          };
        },
      },
    ];
    for (const t of targets) {
      if (!want(t.key)) continue;
      const setup = await t.env();
      const gw = await startGateway(setup.env, roles, cpuProfileArgs(cpuProfDir, `gateway-api-${t.key}`));
      try {
        const pids = {
          server: gw.child.pid as number,
          ...(setup.natsPort ? { nats: findPids('nats-server', String(setup.natsPort))[0] } : {}),
          ...(setup.pgDatabase ? { pgDatabase: setup.pgDatabase } : {}),
        };
        console.error(`${t.name} (pid ${pids.server})`);
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` };
        const smsUrl = `${gw.url}/api/v1/sms`;
        await maxLoad(spec(smsUrl, { seconds: 2, headers })); // warm-up (JIT, pools)
        await measure(t.key, `${t.name}: POST /api/v1/sms, max`, 'max', pids, () => maxLoad(spec(smsUrl, { headers })));
        if (rate > 0)
          await measure(t.key, `${t.name}: POST /api/v1/sms @${fmtInt(rate)}/s`, 'rate', pids, () =>
            runAutocannon(spec(smsUrl, { headers, rate })),
          );
      } finally {
        await stop(gw.child);
        await setup.cleanup();
      }
    }
  } finally {
    await stop(bare);
  }

  console.log(
    `\nPOST /api/v1/sms at ${connections} connections, ${seconds} s per phase (202 after the durable append); gateway roles: ${roles}; ` +
      `load: ${tool} for the maxima${tool === 'wrk' ? ` (${threads} thread(s))` : ''}, autocannon for fixed rates, each in its own process. ` +
      'CPU µs per 2xx request; load CPU % of a core per wrk thread / autocannon process (SAT = ≥ 90%: not judged).\n',
  );
  console.log(
    table(
      [
        'phase',
        '>req/s',
        '>p50 ms',
        '>p99 ms',
        '>requests',
        '>failed',
        '>server µs',
        '>nats µs',
        '>pg µs',
        '>load µs',
        '>load CPU%',
      ],
      phases.map((p) => [
        p.name,
        fmtInt(p.load.rps),
        fmtMs(p.load.p50),
        fmtMs(p.load.p99),
        fmtInt(p.load.total),
        p.load.errors + p.load.non2xx,
        fmtInt(usPer(p.cpu.server, p.ok)),
        p.cpu.nats === undefined ? '' : fmtInt(usPer(p.cpu.nats, p.ok)),
        p.cpu.pg === undefined ? '' : fmtInt(usPer(p.cpu.pg, p.ok)),
        fmtInt(usPer(p.load.loadCpuSeconds, p.load.total)),
        `${fmtInt(p.loadShare * 100)}${p.loadSaturated ? ' SAT' : ''}`,
      ]),
    ),
  );
  const result = apiResult(phases, { seed, startedAt, tool, rate });
  result.options = {
    seconds,
    connections,
    rate,
    roles,
    load: tool,
    loadThreads: threads,
    ...(only ? { only: only.join(',') } : {}),
  };
  const tools = phases.filter((p) => p.target === 'bare' && p.kind === 'max');
  if (tools.length === 2) {
    const [a, b] = tools.map((p) => ({ tool: p.load.tool, us: usPer(p.load.loadCpuSeconds, p.load.total) })) as [
      { tool: string; us: number },
      { tool: string; us: number },
    ];
    const [cheap, dear] = a.us <= b.us ? [a, b] : [b, a];
    const line = `load tools against bare uWS: ${cheap.tool} ${fmtInt(cheap.us)} µs CPU/request, ${dear.tool} ${fmtInt(dear.us)} µs: ${cheap.tool} costs ${(dear.us / cheap.us).toFixed(1)}× less`;
    result.notes.push(line);
    console.log(`\n${line}`);
  }
  console.log('\ntargets:');
  for (const f of result.figures.filter((x) => x.target))
    console.log(
      `  ${f.met === undefined ? 'n/a ' : f.met ? 'PASS' : 'MISS'} ${f.label}: ${f.unit === 'ms' ? fmtMs(f.value) : fmtInt(f.value)} ${f.unit}` +
        (f.ceiling ? ` = ${(f.value / f.ceiling.value).toFixed(2)}× ${f.ceiling.label} (${fmtInt(f.ceiling.value)})` : '') +
        ` (target: ${f.target?.text})${f.loadSaturated || f.ceiling?.loadSaturated ? ' — load saturated, not judged' : ''}`,
    );
  return result;
};

const apiResult = (phases: ApiPhase[], run: { seed: number; startedAt: Date; tool: string; rate: number }): BenchResult => {
  const figures: BenchFigure[] = [];
  const series: BenchSeries[] = [];
  const add = (f: BenchFigure) => {
    const met = judge(f);
    figures.push(met === undefined ? f : { ...f, met });
  };
  const bareOf = (kind: 'max' | 'rate') =>
    phases.find((p) => p.target === 'bare' && p.kind === kind && (kind === 'rate' || p.load.tool === run.tool));
  for (const p of phases) {
    const isBare = p.target === 'bare';
    const tag = isBare && p.kind === 'max' ? `${p.kind}_${p.load.tool}` : p.kind;
    const key = `api.${p.target}.${tag}`;
    const ceil = isBare ? undefined : bareOf(p.kind);
    const base = { loadSaturated: p.loadSaturated, loadCpu: [p.loadShare] };
    const ceiling = (value: number) => (ceil ? { ceiling: { label: ceil.name, value, loadSaturated: ceil.loadSaturated } } : {});
    add({
      key: `${key}.req_per_s`,
      label: `${p.name}: req/s`,
      value: p.load.rps,
      unit: 'ops/s',
      ...ceiling(ceil?.load.rps ?? Number.NaN),
      ...(!isBare && p.kind === 'max'
        ? { target: { kind: 'ratio' as const, atLeast: 0.4, text: 'req/s ≥ 40% of bare uWS' } }
        : {}),
      ...base,
    });
    add({
      key: `${key}.cpu_us_per_request`,
      label: `${p.name}: µs CPU per request (${isBare ? 'bare uWS process' : 'gateway process, all threads'})`,
      value: usPer(p.cpu.server, p.ok),
      unit: 'µs CPU',
      ...ceiling(ceil ? usPer(ceil.cpu.server, ceil.ok) : Number.NaN),
      ...(!isBare ? { target: { kind: 'ratio' as const, atMost: 3, text: 'HTTP command ≤ 3× bare uWS CPU per request' } } : {}),
      ...base,
    });
    if (p.cpu.nats !== undefined)
      add({
        key: `${key}.nats_cpu_us_per_request`,
        label: `${p.name}: µs CPU per request in nats-server`,
        value: usPer(p.cpu.nats, p.ok),
        unit: 'µs CPU',
        ...base,
      });
    if (p.cpu.pg !== undefined)
      add({
        key: `${key}.pg_cpu_us_per_request`,
        label: `${p.name}: µs CPU per request in Postgres backends`,
        value: usPer(p.cpu.pg, p.ok),
        unit: 'µs CPU',
        ...base,
      });
    add({
      key: `${key}.load_cpu_us_per_request`,
      label: `${p.name}: µs CPU per request in the load process (${p.load.tool})`,
      value: usPer(p.load.loadCpuSeconds, p.load.total),
      unit: 'µs CPU',
      ...base,
    });
    add({
      key: `${key}.p99_ms`,
      label: `${p.name}: p99 latency`,
      value: p.load.p99,
      unit: 'ms',
      ...(!isBare && p.kind === 'rate'
        ? { target: { kind: 'bound' as const, atMost: 20, text: `p99 < 20 ms at ${fmtInt(run.rate)}/s` } }
        : {}),
      ...base,
    });
    if (p.load.perSecond)
      series.push({
        key: `${key}.throughput`,
        label: `${p.name}: req/s over time`,
        unit: 'ops/s',
        points: p.load.perSecond.map((n, i) => [i + 1, n]),
        ...(ceil?.load.perSecond
          ? { ceiling: { label: ceil.name, points: ceil.load.perSecond.map((n, i) => [i + 1, n] as [number, number]) } }
          : {}),
      });
  }
  const saturated = phases.filter((p) => p.loadSaturated);
  return {
    bench: 'api',
    seed: run.seed,
    startedAt: run.startedAt.toISOString(),
    durationS: (Date.now() - run.startedAt.getTime()) / 1000,
    options: {},
    figures,
    series,
    notes: [
      saturated.length > 0
        ? `load-bound phases (not judged): ${saturated.map((p) => p.name).join('; ')}`
        : 'no phase was load-bound (every load process under 90% of a core)',
      'wrk gives no per-second counts: throughput over time is drawn for the autocannon (fixed-rate) phases only.',
    ],
    correct: true,
  };
};

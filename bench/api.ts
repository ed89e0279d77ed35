/**
 * `npm run bench -- api`: POST /api/v1/sms (202 after the durable append) at 100 connections,
 * beside a bare uWS endpoint that answers 202 without work, in the same run. The gateway runs as
 * its real process (`fleetgate start --roles api,projections`); this process is the load
 * generator (autocannon).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { GLIBC_MALLOC_ENV } from '../core/mallocTuning.js';
import { packageRoot } from '../core/paths.js';
import { createScratchDatabase, fmtInt, fmtMs, freePort, startNatsServer, table, tempDir } from './support.js';

export const ADMIN_KEY = 'bench-admin-key-0123456789abcdefghijklmnopqrstuv';
const CONNECTIONS = 100;

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  total: number;
}

const load = async (url: string, opts: { seconds: number; rate?: number; headers?: Record<string, string>; body: string }) => {
  const r = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: opts.seconds,
    headers: { 'content-type': 'application/json', ...opts.headers },
    body: opts.body,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
  });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    total: r.requests.total,
  } satisfies Load;
};

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
  // line rather than in NODE_OPTIONS, which refuses some V8 flags (--single-threaded-gc).
  const benchFlags = process.env.BENCH_GATEWAY_NODE_OPTIONS?.split(/\s+/).filter(Boolean) ?? [];
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

export const runApiBench = async (args: string[]): Promise<number> => {
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 10);
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.split('=')[1]
    ?.split(',');
  const want = (n: string) => !only || only.includes(n);
  const roles = args.find((a) => a.startsWith('--roles='))?.split('=')[1] ?? 'api,projections';
  const sms = JSON.stringify({ to: '+79991234567', text: 'Your driver is on the way', priority: 'normal' });
  const rows: (string | number)[][] = [];
  const results: Record<string, Load> = {};
  const record = (name: string, r: Load) => {
    results[name] = r;
    rows.push([name, fmtInt(r.rps), fmtMs(r.p50), fmtMs(r.p99), fmtInt(r.total), r.errors + r.non2xx]);
    console.error(`  ${name}: ${fmtInt(r.rps)} req/s, p99 ${fmtMs(r.p99)} ms, failures ${r.errors + r.non2xx}`);
  };

  const bare = spawn(process.execPath, [join(packageRoot, 'dist/bench/bareUws.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const barePort = await waitForLine(bare, /^(\d+)\n/m, 10_000);
  try {
    record('bare uWS 202', await load(`http://127.0.0.1:${barePort}/`, { seconds, body: sms }));

    const targets: { name: string; env: () => Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> }[] = [
      {
        name: 'embedded (PGlite)',
        env: async () => {
          const dir = await tempDir('fg-bench-api-');
          return { env: { DATA_DIR: dir.dir }, cleanup: dir.remove };
        },
      },
      {
        name: 'JetStream + Postgres',
        env: async () => {
          const [nats, db, dir] = await Promise.all([
            startNatsServer(),
            createScratchDatabase('fg_bench_api'),
            tempDir('fg-bench-api-'),
          ]);
          return {
            env: { DATA_DIR: dir.dir, NATS_URL: nats.url, DATABASE_URL: db.url },
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
      if (!want(t.name.startsWith('embedded') ? 'embedded' : 'jetstream')) continue;
      const setup = await t.env();
      const gw = await startGateway(setup.env, roles);
      try {
        const headers = { authorization: `Bearer ${ADMIN_KEY}` };
        await load(`${gw.url}/api/v1/sms`, { seconds: 2, headers, body: sms }); // warm-up (JIT, pools)
        record(`${t.name}: POST /api/v1/sms, max`, await load(`${gw.url}/api/v1/sms`, { seconds, headers, body: sms }));
        record(
          `${t.name}: POST /api/v1/sms @5000/s`,
          await load(`${gw.url}/api/v1/sms`, { seconds, rate: 5_000, headers, body: sms }),
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
    `\nPOST /api/v1/sms at ${CONNECTIONS} connections, ${seconds} s per phase (202 after the durable append); gateway roles: ${roles}\n`,
  );
  console.log(table(['phase', '>req/s', '>p50 ms', '>p99 ms', '>requests', '>failed'], rows));
  const ceiling = results['bare uWS 202']?.rps ?? 0;
  console.log('\ntargets:');
  let pass = true;
  for (const name of Object.keys(results).filter((n) => n.endsWith('max'))) {
    const ratio = (results[name]?.rps ?? 0) / ceiling;
    const ok = ratio >= 0.4;
    pass &&= ok;
    console.log(`  ${ok ? 'PASS' : 'MISS'} ${name}: ${(ratio * 100).toFixed(1)}% of bare uWS (target >= 40%)`);
  }
  for (const name of Object.keys(results).filter((n) => n.includes('@5000'))) {
    const r = results[name] as Load;
    const ok = r.p99 < 20 && r.rps >= 4_500;
    pass &&= ok;
    console.log(
      `  ${ok ? 'PASS' : 'MISS'} ${name}: p99 ${fmtMs(r.p99)} ms at ${fmtInt(r.rps)} req/s (target < 20 ms at 5,000/s)`,
    );
  }
  return pass ? 0 : 1;
};

/**
 * HTTP load for `npm run bench -- api`, always in processes of its own so that their CPU is
 * counted apart from the server's: Debian's `wrk` (C, one event loop per thread, a Lua script for
 * the POST body) for the closed-loop maximum, and autocannon in a child node process
 * (bench/load/autocannonWorker.ts) for fixed rates, which wrk cannot do. Each run reports the
 * CPU-seconds the load process used, so a phase whose load was the bottleneck can be flagged.
 */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../core/paths.js';

export interface HttpLoadSpec {
  url: string;
  connections: number;
  seconds: number;
  headers: Record<string, string>;
  body: string;
  /** Requests/s over all connections (open loop, autocannon only). */
  rate?: number;
  /** wrk threads (default 1). */
  threads?: number;
}

export interface HttpLoadResult {
  tool: 'wrk' | 'autocannon';
  /** Requests answered per second (any status). */
  rps: number;
  p50: number;
  p99: number;
  /** Requests answered in the run. */
  total: number;
  /** Answers outside 2xx/3xx. */
  non2xx: number;
  /** Connect/read/write errors and timeouts. */
  errors: number;
  seconds: number;
  /** CPU-seconds (user + system) of the load process over the run. */
  loadCpuSeconds: number;
  /** Threads/processes that ran the load: the load's CPU share is per one of them. */
  loadThreads: number;
  /** autocannon: requests answered in each second of the run. */
  perSecond?: number[];
}

export const wrkAvailable = () => spawnSync('wrk', ['--version']).error === undefined;

const luaString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

/** `1.23ms` / `850.00us` / `1.02s` → ms. */
const wrkMs = (v: string | undefined) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v ?? '');
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
};

/** The CPU of a child measured by the shell that waits for it (`times`: children's user and system). */
const shellTimes = (out: string) => {
  const lines = out.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const secs = [...last.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { cpu: (secs[0] ?? Number.NaN) + (secs[1] ?? Number.NaN), rest: lines.slice(0, -2).join('\n') };
};

export const runWrk = (spec: HttpLoadSpec): Promise<HttpLoadResult> =>
  new Promise((resolve, reject) => {
    const script = join(tmpdir(), `fg-wrk-${process.pid}-${Math.random().toString(36).slice(2)}.lua`);
    writeFileSync(
      script,
      [
        'wrk.method = "POST"',
        `wrk.body = ${luaString(spec.body)}`,
        ...Object.entries(spec.headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
      ].join('\n'),
    );
    const threads = spec.threads ?? 1;
    const cmd = `wrk -t${threads} -c${spec.connections} -d${spec.seconds}s --latency -s '${script}' '${spec.url}'; code=$?; times; exit $code`;
    const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => {
      rmSync(script, { force: true });
      if (code !== 0) return reject(new Error(`wrk exited ${code}:\n${out}`));
      const { cpu, rest } = shellTimes(out);
      const num = (re: RegExp) => Number(re.exec(rest)?.[1] ?? Number.NaN);
      const total = num(/(\d+) requests in ([\d.]+)(?:s|ms|m)/);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(rest);
      resolve({
        tool: 'wrk',
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        p50: wrkMs(/^\s+50%\s+(\S+)/m.exec(rest)?.[1]),
        p99: wrkMs(/^\s+99%\s+(\S+)/m.exec(rest)?.[1]),
        total,
        non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0,
        errors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
        seconds: wrkMs(/\d+ requests in (\S+),/.exec(rest)?.[1]) / 1000,
        loadCpuSeconds: cpu,
        loadThreads: threads,
      });
    });
  });

export const runAutocannon = (spec: HttpLoadSpec): Promise<HttpLoadResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(packageRoot, 'dist/bench/load/autocannonWorker.js'), JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon worker exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop() as string) as HttpLoadResult);
    });
  });

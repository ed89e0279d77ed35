/**
 * autocannon in a process of its own (argv[2]: JSON HttpLoadSpec), so the bench can tell its CPU
 * from the server's; prints one JSON HttpLoadResult line with the CPU it used.
 */
import autocannon from 'autocannon';
import type { HttpLoadResult, HttpLoadSpec } from './httpLoad.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as HttpLoadSpec;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const perSecond: number[] = [];
const r = await new Promise<autocannon.Result>((resolve, reject) => {
  const instance = autocannon(
    {
      url: spec.url,
      method: 'POST',
      connections: spec.connections,
      duration: spec.seconds,
      headers: { 'content-type': 'application/json', ...spec.headers },
      body: spec.body,
      ...(spec.rate ? { overallRate: spec.rate } : {}),
    },
    (err, result) => (err ? reject(err) : resolve(result)),
  );
  // The typings omit tick's argument: `{ counter, bytes }` of the last second (README, "Events").
  (instance as NodeJS.EventEmitter).on('tick', (t: { counter: number }) => perSecond.push(t.counter));
});
const cpu = process.cpuUsage(cpu0);
const result: HttpLoadResult = {
  tool: 'autocannon',
  rps: r.requests.average,
  p50: r.latency.p50,
  p99: r.latency.p99,
  total: r.requests.total,
  non2xx: r.non2xx,
  errors: r.errors + r.timeouts,
  seconds: (performance.now() - t0) / 1000,
  loadCpuSeconds: (cpu.user + cpu.system) / 1e6,
  loadThreads: 1,
  perSecond,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);

/**
 * T23, "the gateway works with its role user": four gateway processes, one per role, each
 * connected to a private nats-server as its own user from deploy/nats/users.conf, share the work
 * end to end: the api process registers a device and queues an SMS, the ingest process takes the
 * device's MQTT point (QoS 1), the handlers process sends the SMS (test mode) and appends the
 * outcome, the projections process folds both into Postgres, where the api reads them. No process
 * meets a permission violation. Each process's RSS and CPU are printed (deploy/k8s requests).
 * And a fifth process, told NATS_MIN_VERSION 2.14.0, refuses the machine's 2.9.10 at start.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice } from '../ingest/harness.js';
import { adminApi, gatewayPolling } from '../support/gatewayClient.js';
import { freePort, type GatewayProcess, runCli } from '../support/gatewayProcess.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';
import { type NatsWithUsers, startNatsWithUsers } from './natsServerWithUsers.js';

const ADMIN = 'e2e-admin-key-role-users-0123456789abcdef';
const ROLES = ['ingest', 'api', 'projections', 'handlers'] as const;
let nats: NatsWithUsers;
let db: Awaited<ReturnType<typeof freshPostgresDb>>;
const dirs: Awaited<ReturnType<typeof tempDir>>[] = [];
const procs = new Map<(typeof ROLES)[number], GatewayProcess>();
let apiBase: string;
let mqttPort: number;

beforeAll(async () => {
  [nats, db] = await Promise.all([startNatsWithUsers(), freshPostgresDb()]);
  mqttPort = await freePort();
  const started: Promise<void>[] = [];
  for (const role of ROLES) {
    const dir = await tempDir(`fg-e2e-role-${role}-`);
    dirs.push(dir);
    const [httpPort, metricsPort] = [await freePort(), await freePort()];
    if (role === 'api') apiBase = `http://127.0.0.1:${httpPort}`;
    const proc = runCli(['start', '--roles', role], {
      NATS_URL: nats.url,
      ...Object.fromEntries(Object.entries(nats.user(role)).map(([k, v]) => [k === 'user' ? 'NATS_USER' : 'NATS_PASSWORD', v])),
      DATABASE_URL: db.url,
      DATA_DIR: dir.dir,
      HTTP_PORT: String(httpPort),
      METRICS_PORT: String(metricsPort),
      MQTT_PORT: String(role === 'ingest' ? mqttPort : await freePort()),
      OSMAND_PORT: String(await freePort()),
      ADMIN_API_KEY: ADMIN,
      CLICKHOUSE_URL: '', // the warning's subject is tested elsewhere; here each keeps its own chdb
    });
    procs.set(role, proc);
    started.push(proc.waitHealthy(`http://127.0.0.1:${httpPort}/readyz`, 150_000));
  }
  await Promise.all(started);
}, 200_000);

afterAll(async () => {
  await Promise.all(
    [...procs.values()].map(async (p) => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGTERM');
        await p.exited;
      }
    }),
  );
  await nats?.close();
  await db?.close();
  for (const d of dirs) await d.remove();
});

const api = (method: string, path: string, body?: unknown) => adminApi(apiBase, ADMIN).api(method, path, body);

/** RSS (MiB) and CPU seconds so far of a process, from /proc (Linux). */
const footprint = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime, fields 14 and 15
  return { rssMiB: Math.round(rssKb / 1024), cpuSeconds: ticks / 100 };
};

describe('one gateway process per role, each with its own NATS user', () => {
  it('registers, ingests, sends and folds across the four processes without a permission violation', async () => {
    const token = (await api('POST', '/api/v1/devices', { id: 'van-roles' })).body.token as string;
    const sms = await api('POST', '/api/v1/sms', { to: '+79990001122', text: 'role users' });
    expect(sms.status).toBe(202);

    const van = await until(() => connectDevice(mqttPort, 'van-roles', token).catch(() => undefined), {
      what: 'the ingest process to know the device',
      ...gatewayPolling,
    });
    await van.publishAsync('v1/devices/van-roles/location', JSON.stringify({ ts: Date.now() - 1_000, lat: 55.7, lon: 37.6 }), {
      qos: 1,
    });
    await van.endAsync();

    const position = await until(
      async () => {
        const list = (await api('GET', '/api/v1/vehicles/positions?ids=van-roles')).body.positions as { lat: number }[];
        return list[0];
      },
      { what: 'the position folded by the projections process', ...gatewayPolling },
    );
    expect(position.lat).toBe(55.7);
    const sent = await until(
      async () => {
        const r = await api('GET', `/api/v1/sms/${sms.body.id}`);
        return r.body.status === 'sent' ? r.body : undefined;
      },
      { what: 'the SMS sent by the handlers process', ...gatewayPolling },
    );
    expect(sent.status).toBe('sent');

    for (const [role, p] of procs) {
      expect(p.output() + p.stderr(), role).not.toMatch(/permissions? violation/i);
      expect(p.child.exitCode, role).toBeNull();
    }
    const figures = Object.fromEntries([...procs].map(([role, p]) => [role, footprint(p.child.pid ?? 0)]));
    console.info(`role footprint after start and one flow: ${JSON.stringify(figures)}`);
    for (const f of Object.values(figures)) expect(f.rssMiB).toBeGreaterThan(0);
  }, 90_000);

  it('a gateway refuses to start on a server older than NATS_MIN_VERSION, saying why (T23)', async () => {
    const dir = await tempDir('fg-e2e-version-gate-');
    dirs.push(dir);
    const proc = runCli(['start', '--roles', 'handlers'], {
      NATS_URL: nats.url,
      NATS_USER: nats.user('handlers').user,
      NATS_PASSWORD: nats.user('handlers').pass,
      NATS_MIN_VERSION: '2.14.0',
      DATABASE_URL: db.url,
      DATA_DIR: dir.dir,
      HTTP_PORT: String(await freePort()),
      METRICS_PORT: String(await freePort()),
    });
    expect(await proc.exited).toBe(1);
    expect(proc.stderr() + proc.output()).toMatch(
      /nats-server 2\.9\.\d+ is older than NATS_MIN_VERSION 2\.14\.0: upgrade the server .*NATS_ALLOW_OLD_SERVER=true/,
    );
  }, 60_000);
});

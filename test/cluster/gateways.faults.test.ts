import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { SPLIT_HEADER } from '../../core/runners/projectionRunner.js';
import {
  type Balancer,
  type ClusterGateway,
  metricValue,
  type NatsCluster,
  startBalancer,
  startClusterGateway,
  startNatsCluster,
} from '../support/cluster.js';
import { adminApi } from '../support/gatewayClient.js';
import { freshPostgresDb } from '../support/stores.js';
import { until } from '../support/until.js';
import { type CrmLoad, type DeviceLoad, type PhoneLoad, runCrm, runDevices, runPhones } from './load.js';

/*
 * Three nats-server nodes (R3 streams), two gateway processes with every role behind HAProxy,
 * GPS units, driver phones and a CRM through the balancer. The short run (npm test) uses 40 units
 * and 20 phones; `npm run test:cluster` (FAULT_SCALE=5) the issue's 200 and 100.
 */
const SCALE = Number(process.env.FAULT_SCALE ?? 1);
const DEVICES = Math.round(40 * SCALE);
const PHONES = Math.round(20 * SCALE);
const ADMIN = 'cluster-admin-key-0123456789abcdefghijklmnopqrstuvwxyz';
const FAULT_MS = 5_000;

let cluster: NatsCluster;
let db: Awaited<ReturnType<typeof freshPostgresDb>>;
let gateways: ClusterGateway[] = [];
let balancer: Balancer;
let log: EventLog;
const devices: { id: string; token: string }[] = [];
const phones: { id: string; token: string }[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
/** Progress on stderr as it happens (a stuck step shows where). */
const step = (what: string) => process.stderr.write(`[cluster +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}\n`);

beforeAll(async () => {
  cluster = await startNatsCluster();
  db = await freshPostgresDb();
  const common = { natsUrl: cluster.natsUrl, databaseUrl: db.url, adminKey: ADMIN, env: { HANDLER_ACK_WAIT_SECONDS: '5' } };
  // One first: it creates the streams and applies the migrations the second then finds.
  gateways.push(await startClusterGateway({ name: 'g1', ...common }));
  gateways.push(await startClusterGateway({ name: 'g2', ...common }));
  balancer = await startBalancer(gateways);
  log = await jetStreamEventLog({
    servers: cluster.urls,
    replicas: 3,
    eventsMaxAgeMs: 0,
    gpsMaxAgeMs: 3_600_000,
    dlqMaxAgeMs: 0,
    duplicateWindowMs: 120_000,
    gpsDuplicateWindowMs: 120_000,
  });
  const { api } = adminApi(balancer.httpBase, ADMIN);
  const register = async (id: string, kind: 'unit' | 'phone') => {
    const res = await api('POST', '/api/v1/devices', { id, kind });
    expect(res.status).toBe(201);
    return { id, token: res.body.token as string };
  };
  for (let i = 0; i < DEVICES; i++) devices.push(await register(`unit-${i}`, 'unit'));
  for (let i = 0; i < PHONES; i++) phones.push(await register(`phone-${i}`, 'phone'));
}, 300_000);

afterAll(async () => {
  await balancer?.stop();
  await Promise.all(gateways.map((g) => g.stop()));
  await log?.close();
  await db?.close();
  await cluster?.close();
});

interface Load {
  devices: DeviceLoad;
  phones: PhoneLoad;
  crm: CrmLoad;
}

const startLoad = async (): Promise<Load> => ({
  devices: await runDevices({ mqttPort: balancer.mqttPort, devices, intervalMs: 1_000 }),
  phones: await runPhones({ httpPort: balancer.httpPort, phones, intervalMs: 1_000 }),
  crm: runCrm({ base: balancer.httpBase, adminKey: ADMIN, deviceIds: devices.map((d) => d.id), intervalMs: 100 }),
});

/** The CRM stops first; the units stay connected until every command reached its unit. */
const stopLoad = async (load: Load) => {
  await load.crm.stop();
  // Each command reached its device, from whichever process holds the device's connection.
  await until(() => [...load.crm.deviceCommands].every(([id, deviceId]) => load.devices.commands.get(deviceId)?.has(id)), {
    timeoutMs: 30_000,
    intervalMs: 250,
    what: () => {
      const missing = [...load.crm.deviceCommands].filter(([id, d]) => !load.devices.commands.get(d)?.has(id));
      return `commands delivered (${missing.length} missing, e.g. ${JSON.stringify(missing.slice(0, 3))})`;
    },
  });
  await Promise.all([load.devices.stop(), load.phones.stop()]);
};

/** ms from now until a fresh command through the balancer is answered 202 (the CRM's view of "service back"). */
const timeToCommand = async () => {
  const t0 = Date.now();
  for (let n = 0; ; n++) {
    if (Date.now() - t0 > 60_000) throw new Error('no command accepted within 60 s');
    const res = await fetch(`${balancer.httpBase}/api/v1/sms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', 'idempotency-key': `probe-${t0}-${n}` },
      body: JSON.stringify({
        to: `+7901${String(1_000_000 + Math.floor(Math.random() * 8_000_000)).slice(-7)}`,
        text: `probe ${t0}`,
      }),
      signal: AbortSignal.timeout(2_000),
    }).catch(() => undefined);
    if (res?.status === 202) return Date.now() - t0;
    await sleep(50);
  }
};

const stored = async () => {
  const gps = new Map<string, number>();
  for (const m of await log.read('GPS', 10_000_000)) {
    for (const e of m.events) {
      const d = e.data as { deviceId: string; pointId?: string };
      const key = `${d.deviceId}/${d.pointId}`;
      gps.set(key, (gps.get(key) ?? 0) + 1);
    }
  }
  const events = new Map<string, number>();
  const sent = new Map<string, number>();
  for (const m of await log.read('EVENTS', 10_000_000)) {
    if (m.headers[SPLIT_HEADER] !== undefined) continue;
    for (const e of m.events) {
      events.set(e.id, (events.get(e.id) ?? 0) + 1);
      if (e.type === 'sms.sent' && e.causationId) sent.set(e.causationId, (sent.get(e.causationId) ?? 0) + 1);
    }
  }
  return { gps, events, sent };
};

/** Every acknowledged point and command: in the log once, in the read models, carried out once. */
const checkAccepted = async (load: Load, opts: { gpsDuplicatesAllowed: boolean }) => {
  const points = [...load.devices.acked, ...load.phones.acked];
  const commands = [...load.crm.deviceCommands.keys()];
  const sms = [...load.crm.sms];
  expect(points.length).toBeGreaterThan(DEVICES * 5);
  expect(commands.length).toBeGreaterThan(20);

  // Handlers and projections finish what was accepted (a killed gateway's share after ack wait).
  let smsStatus: Record<string, number> = {};
  await until(
    async () => {
      const rows = await db.sql<{ status: string; n: string }[]>`
        SELECT status, count(*) AS n FROM sms_log WHERE id = ANY(${sms}::uuid[]) GROUP BY status`;
      smsStatus = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
      return smsStatus.sent === sms.length;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: () =>
        `every accepted SMS sent (${sms.length}: ${JSON.stringify(smsStatus)}); gateway logs:\n${gateways
          .map((g) => `${g.name}: ${g.process.output().slice(-3_000)}`)
          .join('\n')}`,
    },
  );
  step('sms sent');
  await until(
    async () =>
      Number(
        (await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM device_commands WHERE id = ANY(${commands}::uuid[])`)[0]?.n,
      ) === commands.length,
    { timeoutMs: 30_000, intervalMs: 250, what: 'every command in device_commands' },
  );
  step('handlers and projections done');
  const { gps, events, sent } = await stored();
  step('log read');
  const lost = points.filter((p) => !gps.has(p));
  expect(lost).toEqual([]);
  const twice = points.filter((p) => (gps.get(p) ?? 0) > 1);
  if (!opts.gpsDuplicatesAllowed) expect(twice).toEqual([]);
  for (const id of [...commands, ...sms]) expect(events.get(id), id).toBe(1);
  // Each SMS carried out once: one provider result per command, whichever process ran it.
  for (const id of sms) expect(sent.get(id), id).toBe(1);

  // The newest acknowledged fix of every unit is the one in vehicle_positions (or a newer one).
  await until(
    async () => {
      const rows = await db.sql<{ device_id: string; ts: Date }[]>`SELECT device_id, ts FROM vehicle_positions`;
      const at = new Map(rows.map((r) => [r.device_id, r.ts.getTime()]));
      return [...load.devices.newestTs].every(([id, ts]) => (at.get(id) ?? 0) >= ts);
    },
    { timeoutMs: 30_000, intervalMs: 250, what: 'vehicle_positions has every newest point' },
  );
  return { points: points.length, commands: commands.length, sms: sms.length, gpsStoredTwice: twice.length };
};

/** The live feed of one gateway process, straight (not through the balancer): positions by device. */
const liveFeed = async (g: ClusterGateway) => {
  const seen = new Set<string>();
  const ws = new WebSocket(`ws://127.0.0.1:${g.httpPort}/v1/ws/live?key=${ADMIN}`);
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; deviceId?: string };
      if (m.type === 'subscribed') resolve();
      if (m.type === 'position' && m.deviceId) seen.add(m.deviceId);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', vehicles: '*' })));
    ws.once('unexpected-response', (_q, res) => reject(new Error(`live feed of ${g.name}: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    setTimeout(() => reject(new Error(`live feed of ${g.name}: not subscribed within 10 s`)), 10_000).unref();
  });
  return { seen, close: () => ws.terminate() };
};

describe('two gateways behind HAProxy on a 3-node JetStream cluster', () => {
  it('keeps every acknowledged point and command through a SIGKILL of the EVENTS leader and its restart, without a gateway restart', async () => {
    const pids = gateways.map((g) => g.process.child.pid);
    const feeds = await Promise.all(gateways.map(liveFeed));
    const load = await startLoad();
    step('load running');
    await sleep(4_000);
    // The units spread over both processes, and each process's live feed shows all of them.
    const connected = await Promise.all(gateways.map(async (g) => metricValue(await g.metrics(), 'fleetgate_mqtt_connections')));
    expect(connected.every((n) => n > 0)).toBe(true);

    const leader = await cluster.streamLeader('EVENTS');
    await leader.kill();
    step(`killed ${leader.name}`);
    const killedAt = Date.now();
    const commandBack = await timeToCommand();
    await sleep(Math.max(0, FAULT_MS - (Date.now() - killedAt)));
    step(`command accepted after ${commandBack} ms`);
    await leader.start();
    await cluster.waitHealthy(60_000);
    const healthyAfterRestart = Date.now() - killedAt;
    step('cluster healthy');
    await sleep(3_000);
    await stopLoad(load);
    step('load stopped');

    const counts = await checkAccepted(load, { gpsDuplicatesAllowed: false });
    await until(() => feeds.every((f) => devices.every((d) => f.seen.has(d.id))), {
      timeoutMs: 20_000,
      what: () => `live feeds see every unit (${feeds.map((f) => f.seen.size).join(', ')} of ${devices.length})`,
    });
    for (const f of feeds) f.close();
    // Carried on: the same processes, still ready.
    expect(gateways.map((g) => g.process.child.pid)).toEqual(pids);
    for (const g of gateways) expect(g.process.child.exitCode).toBeNull();
    console.info(
      `nats node kill (${leader.name}, EVENTS leader): first command accepted ${commandBack} ms after the kill; cluster healthy ${healthyAfterRestart} ms after the kill (restart at ${FAULT_MS} ms);`,
      JSON.stringify({ ...counts, crmRetries: load.crm.retries() }),
    );
  }, 240_000);

  it('loses nothing acknowledged when a gateway process is SIGKILLed mid-load; the other takes its devices, work and projections', async () => {
    const load = await startLoad();
    await sleep(4_000);
    const active = await Promise.all(gateways.map(async (g) => metricValue(await g.metrics(), 'fleetgate_projection_active')));
    // The process running the projections dies (if they are split, the one running more).
    const victim = (active[0] ?? 0) >= (active[1] ?? 0) ? (gateways[0] as ClusterGateway) : (gateways[1] as ClusterGateway);
    const survivor = gateways.find((g) => g !== victim) as ClusterGateway;
    const projections = Math.max(...active);
    expect(projections).toBeGreaterThan(0);
    await victim.kill();
    step(`killed ${victim.name}`);
    const killedAt = Date.now();
    const commandBack = await timeToCommand();
    await until(
      async () => metricValue(await survivor.metrics(), 'fleetgate_projection_active') === projections + Math.min(...active),
      {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: 'survivor runs every projection',
      },
    );
    const projectionsBack = Date.now() - killedAt;
    await sleep(Math.max(0, FAULT_MS - (Date.now() - killedAt)));
    await stopLoad(load);
    expect(load.devices.reconnects()).toBeGreaterThan(0);
    expect(load.phones.reconnects()).toBeGreaterThan(0);

    // A resent point whose first append landed just before the kill may be stored twice (a new
    // batch, a new message id): it is still one event id, which the read models collapse.
    const counts = await checkAccepted(load, { gpsDuplicatesAllowed: true });
    console.info(
      `gateway kill (${victim.name}): first command accepted ${commandBack} ms after; every projection running on ${survivor.name} ${projectionsBack} ms after;`,
      JSON.stringify({
        ...counts,
        deviceReconnects: load.devices.reconnects(),
        phoneReconnects: load.phones.reconnects(),
        crmRetries: load.crm.retries(),
      }),
    );
    gateways = [survivor];
    await victim.stop();
  }, 240_000);
});

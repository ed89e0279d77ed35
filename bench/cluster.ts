/**
 * `npm run bench -- cluster`: a 3-node JetStream cluster (R3 streams, the machine's nats-server)
 * and the shared Postgres, with one and then two gateway processes (every role) behind HAProxy.
 * Per phase, for `--seconds` (10): durable GPS points/s (MQTT QoS 1, `--devices` units each
 * publishing a batch of `--points` points and waiting for the PUBACK before the next) and
 * durable commands/s (`POST /api/v1/sms` answered 202 at `--http` requests in flight). Then, with
 * two gateways, the EVENTS stream leader is SIGKILLed: the time until a command is accepted
 * again and until a point is acknowledged again. All load runs in this process: on a 2-core
 * machine it shares the CPU with the gateways and nats-servers, so the figures are this
 * machine's, not a ceiling. Options: --seconds=N, --devices=N, --points=N, --http=N.
 */
import mqtt from 'mqtt';
import { startBalancer, startClusterGateway, startNatsCluster } from '../test/support/cluster.js';
import type { BenchFigure, BenchResult } from './results.js';
import { createScratchDatabase, fmtInt, table } from './support.js';

const ADMIN = 'bench-cluster-admin-key-0123456789abcdefghijklmnop';
const arg = (args: string[], name: string, def: number) =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const post = (base: string, path: string, body: unknown, key?: string) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${ADMIN}`,
      'content-type': 'application/json',
      ...(key && { 'idempotency-key': key }),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);

/** Units publishing batches at QoS 1, each waiting for its PUBACK: acknowledged points over `ms`. */
const pointsPhase = async (mqttPort: number, devices: { id: string; token: string }[], perMessage: number, ms: number) => {
  const clients = await Promise.all(
    devices.map(
      (d) =>
        new Promise<mqtt.MqttClient>((resolve, reject) => {
          const c = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, {
            protocolVersion: 4,
            clientId: d.id,
            username: d.id,
            password: d.token,
            reconnectPeriod: 300,
          });
          c.once('connect', () => resolve(c));
          c.once('error', reject);
        }),
    ),
  );
  let acked = 0;
  let running = true;
  let seq = 0;
  const loops = clients.map(async (c, i) => {
    const id = devices[i]?.id as string;
    while (running) {
      const now = Date.now();
      const batch = Array.from({ length: perMessage }, (_, k) => ({
        ts: now - 1_000 + k,
        lat: 55 + (i % 90) / 100,
        lon: 37 + k / 100_000,
        id: `${id}-${++seq}`,
      }));
      await c.publishAsync(`v1/devices/${id}/location`, JSON.stringify(batch), { qos: 1 });
      acked += perMessage;
    }
  });
  const t0 = Date.now();
  await sleep(ms);
  const rate = acked / ((Date.now() - t0) / 1_000);
  running = false;
  await Promise.race([Promise.allSettled(loops), sleep(10_000)]);
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  return rate;
};

/** `concurrency` CRM clients posting SMS commands: 202s per second over `ms`. */
const commandsPhase = async (base: string, concurrency: number, ms: number) => {
  let accepted = 0;
  let running = true;
  let n = 0;
  const run = `${Date.now()}`;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const i = n++;
      const res = await post(
        base,
        '/api/v1/sms',
        { to: `+7901${String(1_000_000 + (i % 1_000_000)).slice(-7)}`, text: 'bench' },
        `b-${run}-${i}`,
      );
      if (res?.status === 202) accepted++;
      await res?.arrayBuffer();
    }
  });
  const t0 = Date.now();
  await sleep(ms);
  const rate = accepted / ((Date.now() - t0) / 1_000);
  running = false;
  await Promise.allSettled(loops);
  return rate;
};

export const runClusterBench = async (args: string[]): Promise<BenchResult> => {
  const seconds = arg(args, 'seconds', 10);
  const deviceCount = arg(args, 'devices', 50);
  const perMessage = arg(args, 'points', 10);
  const http = arg(args, 'http', 32);
  const startedAt = new Date();
  const notes: string[] = [];
  const cluster = await startNatsCluster();
  const db = await createScratchDatabase('fg_bench_cluster');
  const common = { natsUrl: cluster.natsUrl, databaseUrl: db.url, adminKey: ADMIN, env: { LOG_LEVEL: 'warn' } };
  const g1 = await startClusterGateway({ name: 'g1', ...common });
  const gateways = [g1];
  let balancer: Awaited<ReturnType<typeof startBalancer>> | undefined;
  const figures: BenchFigure[] = [];
  let correct = true;
  try {
    const devices: { id: string; token: string }[] = [];
    for (let i = 0; i < deviceCount; i++) {
      const res = await post(g1.base, '/api/v1/devices', { id: `bench-${i}` });
      if (res?.status !== 201) throw new Error(`registering bench-${i}: ${res?.status}`);
      devices.push({ id: `bench-${i}`, token: ((await res.json()) as { token: string }).token });
    }
    const phase = async (label: string, mqttPort: number, base: string) => {
      const points = await pointsPhase(mqttPort, devices, perMessage, seconds * 1_000);
      const commands = await commandsPhase(base, http, seconds * 1_000);
      console.log(`${label}: ${fmtInt(points)} points/s, ${fmtInt(commands)} commands/s`);
      return { points, commands };
    };
    const one = await phase('one gateway', g1.mqttPort, g1.base);
    gateways.push(await startClusterGateway({ name: 'g2', ...common }));
    balancer = await startBalancer(gateways);
    const two = await phase('two gateways behind HAProxy', balancer.mqttPort, balancer.httpBase);
    figures.push(
      {
        key: 'cluster.one.points_per_s',
        label: 'durable GPS points/s, one gateway (MQTT QoS 1)',
        value: one.points,
        unit: 'ops/s',
      },
      {
        key: 'cluster.two.points_per_s',
        label: 'durable GPS points/s, two gateways behind HAProxy',
        value: two.points,
        unit: 'ops/s',
        ceiling: { label: 'one gateway', value: one.points },
      },
      {
        key: 'cluster.one.commands_per_s',
        label: 'commands/s (POST /api/v1/sms → 202), one gateway',
        value: one.commands,
        unit: 'ops/s',
      },
      {
        key: 'cluster.two.commands_per_s',
        label: 'commands/s, two gateways behind HAProxy',
        value: two.commands,
        unit: 'ops/s',
        ceiling: { label: 'one gateway', value: one.commands },
      },
    );

    // The EVENTS leader is SIGKILLed while a CRM keeps posting: how long until service is back.
    const leader = await cluster.streamLeader('EVENTS');
    const gpsLeader = await cluster.streamLeader('GPS');
    await leader.kill();
    const killedAt = Date.now();
    const [commandBack, pointBack] = await Promise.all([
      (async () => {
        for (let i = 0; ; i++) {
          const res = await post(
            balancer.httpBase,
            '/api/v1/sms',
            { to: '+79019999999', text: 'probe' },
            `probe-${killedAt}-${i}`,
          );
          if (res?.status === 202) return Date.now() - killedAt;
          if (Date.now() - killedAt > 120_000) return Number.NaN;
          await sleep(50);
        }
      })(),
      (async () => {
        const d = devices[0] as { id: string; token: string };
        const c = mqtt.connect(`mqtt://127.0.0.1:${balancer.mqttPort}`, {
          protocolVersion: 4,
          clientId: `${d.id}-probe`,
          username: d.id,
          password: d.token,
          reconnectPeriod: 300,
        });
        await c.publishAsync(
          `v1/devices/${d.id}/location`,
          JSON.stringify({ ts: Date.now(), lat: 1, lon: 1, id: `probe-${killedAt}` }),
          {
            qos: 1,
          },
        );
        const ms = Date.now() - killedAt;
        await c.endAsync(true);
        return ms;
      })(),
    ]);
    await sleep(Math.max(0, 5_000 - (Date.now() - killedAt)));
    await leader.start();
    await cluster.waitHealthy(120_000);
    const healthy = Date.now() - killedAt;
    if (Number.isNaN(commandBack)) correct = false;
    figures.push(
      {
        key: 'cluster.kill.command_back_ms',
        label: 'EVENTS leader SIGKILL → next command accepted',
        value: commandBack,
        unit: 'ms',
      },
      {
        key: 'cluster.kill.point_back_ms',
        label: 'EVENTS leader SIGKILL → next point acknowledged',
        value: pointBack,
        unit: 'ms',
      },
      {
        key: 'cluster.kill.healthy_ms',
        label: 'SIGKILL → node restarted (at 5 s) and every node current (/healthz)',
        value: healthy,
        unit: 'ms',
      },
    );
    notes.push(
      `killed ${leader.name} (EVENTS leader; GPS leader was ${gpsLeader.name}). ${deviceCount} units × ${perMessage} points per message, ${http} HTTP clients; load in the bench process on the same ${
        (await import('node:os')).cpus().length
      }-core machine as 3 nats-servers, Postgres and the gateways.`,
    );
  } finally {
    await balancer?.stop();
    await Promise.all(gateways.map((g) => g.stop()));
    await db.drop();
    await cluster.close();
  }
  const result: BenchResult = {
    bench: 'cluster',
    seed: 0,
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1_000,
    options: { seconds, devices: deviceCount, points: perMessage, http },
    figures,
    series: [],
    notes,
    correct,
  };
  console.log(
    table(
      ['figure', 'value', 'unit'],
      figures.map((f) => [f.label, fmtInt(f.value), f.unit]),
    ),
  );
  for (const n of notes) console.log(n);
  return result;
};

import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';

/**
 * Load for the cluster tests, through the balancer: GPS units over MQTT (QoS 1), driver phones
 * over WebSocket and a CRM posting commands. Each keeps what the gateway acknowledged – the
 * promise the checks hold it to – and re-sends what it did not, with the same id, as the real
 * clients do, until it is acknowledged.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Point ids of one run: a later run in the same log must not look like a resend. */
const runId = () => Date.now().toString(36);

export interface DeviceLoad {
  /** `deviceId/pointId` of every point whose PUBACK arrived. */
  acked: Set<string>;
  /** Newest acknowledged fix time per device. */
  newestTs: Map<string, number>;
  /** Command ids each device received on its commands topic. */
  commands: Map<string, Set<string>>;
  /** Connections made after the first one, all devices. */
  reconnects(): number;
  stop(): Promise<void>;
}

/** `devices` MQTT units, each publishing one point every `intervalMs` at QoS 1 and listening for commands. */
export const runDevices = async (opts: {
  mqttPort: number;
  devices: readonly { id: string; token: string }[];
  intervalMs: number;
}): Promise<DeviceLoad> => {
  const run = runId();
  const acked = new Set<string>();
  const newestTs = new Map<string, number>();
  const commands = new Map<string, Set<string>>();
  let reconnects = 0;
  let running = true;
  const clients: MqttClient[] = [];
  const loops: Promise<void>[] = [];
  await Promise.all(
    opts.devices.map(async ({ id, token }, index) => {
      const client = mqtt.connect(`mqtt://127.0.0.1:${opts.mqttPort}`, {
        protocolVersion: 4,
        clientId: id,
        username: id,
        password: token,
        clean: true,
        reconnectPeriod: 300,
        connectTimeout: 5_000,
        keepalive: 10,
      });
      clients.push(client);
      const got = new Set<string>();
      commands.set(id, got);
      client.on('message', (_topic, payload) => {
        got.add((JSON.parse(payload.toString()) as { id: string }).id);
      });
      let connects = 0;
      client.on('connect', () => {
        if (connects++ > 0) reconnects++;
      });
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
      });
      await client.subscribeAsync(`v1/devices/${id}/commands`, { qos: 1 });
      loops.push(
        (async () => {
          await sleep((index * opts.intervalMs) / opts.devices.length);
          for (let n = 1; running; n++) {
            const ts = Date.now() - 1_000;
            const point = { ts, lat: 55 + (index % 90) / 100, lon: 37 + n / 100_000, speed: 30, id: `${id}-${run}-${n}` };
            // mqtt.js keeps an unacknowledged QoS 1 message and sends it again after a reconnect.
            await client.publishAsync(`v1/devices/${id}/location`, JSON.stringify(point), { qos: 1 });
            acked.add(`${id}/${point.id}`);
            if (ts > (newestTs.get(id) ?? 0)) newestTs.set(id, ts);
            await sleep(opts.intervalMs);
          }
        })(),
      );
    }),
  );
  return {
    acked,
    newestTs,
    commands,
    reconnects: () => reconnects,
    async stop() {
      running = false;
      await Promise.race([Promise.allSettled(loops), sleep(30_000)]);
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    },
  };
};

export interface PhoneLoad {
  acked: Set<string>;
  reconnects(): number;
  stop(): Promise<void>;
}

/** Driver phones on `/v1/ws/driver`: one location every `intervalMs`, kept until its id comes back in an ack. */
export const runPhones = async (opts: {
  httpPort: number;
  phones: readonly { id: string; token: string }[];
  intervalMs: number;
}): Promise<PhoneLoad> => {
  const run = runId();
  const acked = new Set<string>();
  let reconnects = 0;
  let running = true;
  const sockets = new Set<WebSocket>();
  const loops = opts.phones.map(async ({ id, token }, index) => {
    const unacked = new Map<string, Record<string, unknown>>();
    let n = 0;
    let first = true;
    await sleep((index * opts.intervalMs) / opts.phones.length);
    while (running) {
      const ws = new WebSocket(`ws://127.0.0.1:${opts.httpPort}/v1/ws/driver?token=${token}`);
      sockets.add(ws);
      const open = await new Promise<boolean>((resolve) => {
        ws.once('open', () => resolve(true));
        ws.once('error', () => resolve(false));
        ws.once('close', () => resolve(false));
      });
      if (!open) {
        sockets.delete(ws);
        await sleep(300);
        continue;
      }
      if (!first) reconnects++;
      first = false;
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString()) as { type: string; ids?: string[] };
        if (m.type !== 'ack') return;
        for (const pid of m.ids ?? []) {
          if (unacked.delete(pid)) acked.add(`${id}/${pid}`);
        }
      });
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      // What the last connection did not get acknowledged goes again, same ids.
      for (const p of unacked.values()) ws.send(JSON.stringify(p));
      let gone = false;
      void closed.then(() => (gone = true));
      while (running && !gone) {
        n++;
        const p = { type: 'location', ts: Date.now() - 1_000, lat: 56, lon: 38 + n / 100_000, id: `${id}-${run}-${n}` };
        unacked.set(p.id, p);
        ws.send(JSON.stringify(p));
        await sleep(opts.intervalMs);
      }
      if (!running) {
        // Let the last acks arrive, then leave.
        const deadline = Date.now() + 10_000;
        while (unacked.size > 0 && !gone && Date.now() < deadline) await sleep(50);
        ws.close();
      }
      await closed;
      sockets.delete(ws);
    }
  });
  return {
    acked,
    reconnects: () => reconnects,
    async stop() {
      running = false;
      await Promise.race([Promise.allSettled(loops), sleep(30_000)]);
      for (const ws of sockets) ws.terminate();
    },
  };
};

export interface CrmLoad {
  /** Command ids answered 202, by kind. */
  deviceCommands: Map<string, string>;
  sms: Set<string>;
  /** Requests that got no 202 at first (503, reset): retried with the same Idempotency-Key. */
  retries(): number;
  stop(): Promise<void>;
}

/**
 * A CRM posting a device command and an SMS every `intervalMs` through the balancer, each with its
 * own Idempotency-Key and re-posted with it until answered 202.
 */
export const runCrm = (opts: { base: string; adminKey: string; deviceIds: readonly string[]; intervalMs: number }): CrmLoad => {
  const deviceCommands = new Map<string, string>();
  const sms = new Set<string>();
  let retries = 0;
  let running = true;
  const run = `${process.pid}-${Date.now()}`;
  const recipients = 1_000_000 + Math.floor(Math.random() * 8_000_000);
  const post = async (path: string, body: unknown, key: string): Promise<string> => {
    for (;;) {
      const res = await fetch(`${opts.base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.adminKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      }).catch(() => undefined);
      if (res?.status === 202) return ((await res.json()) as { id: string }).id;
      if (res && res.status < 500) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      retries++;
      await sleep(200);
    }
  };
  const loop = (async () => {
    for (let n = 1; running; n++) {
      const deviceId = opts.deviceIds[n % opts.deviceIds.length] as string;
      const key = `crm-${run}-${n}`;
      const [cmd, msg] = await Promise.all([
        post(`/api/v1/devices/${deviceId}/commands`, { command: 'ping', payload: { n }, ttlSeconds: 3_600 }, `${key}-cmd`),
        // A recipient and text of its own per run: the SMS guards refuse repeats to one number.
        post('/api/v1/sms', { to: `+7900${String(recipients + n).slice(-7)}`, text: `cluster ${run} ${n}` }, `${key}-sms`),
      ]);
      deviceCommands.set(cmd, deviceId);
      sms.add(msg);
      await sleep(opts.intervalMs);
    }
  })();
  return {
    deviceCommands,
    sms,
    retries: () => retries,
    async stop() {
      running = false;
      await loop;
    },
  };
};

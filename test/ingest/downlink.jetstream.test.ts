import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { deviceRegistry } from '../../core/devices/registry.js';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type MqttIngest, startMqttIngest } from '../../ingest/mqtt/broker.js';
import { startDownlink } from '../../ingest/mqtt/downlink.js';
import { DEVICE_COMMAND_REQUESTED, deviceCommandSubject } from '../../schemas/events/deviceCommand.js';
import { freePort, type NatsServerHandle, startNatsServer } from '../support/natsServer.js';
import { freshPostgresDb } from '../support/stores.js';
import { until } from '../support/until.js';

/** One ingest process: its own JetStream connection, broker and downlink. */
interface Node {
  name: string;
  log: EventLog;
  ingest: MqttIngest;
  close(): Promise<void>;
}

let nats: NatsServerHandle;
let db: PostgresStore;
const nodes: Node[] = [];
const openLog = () =>
  jetStreamEventLog({
    servers: nats.url,
    name: 'downlink-test',
    replicas: 1,
    eventsMaxAgeMs: 0,
    gpsMaxAgeMs: 3_600_000,
    dlqMaxAgeMs: 0,
    duplicateWindowMs: 60_000,
    gpsDuplicateWindowMs: 10_000,
    timeoutMs: 3_000,
  });

const startNode = async (name: string): Promise<Node> => {
  const log = await openLog();
  const logger = silentLogger();
  const ingest = await startMqttIngest({
    config: loadConfig({ MQTT_CONNECTS_PER_IP_PER_MINUTE: '0' }),
    log,
    devices: deviceRegistry(db.sql),
    logger,
    host: '127.0.0.1',
    port: await freePort(),
  });
  const downlink = await startDownlink({
    log,
    sql: db.sql,
    broker: ingest.broker,
    logger,
    node: name,
    deviceIdOf: ingest.deviceIdOf,
  });
  return {
    name,
    log,
    ingest,
    close: async () => {
      await downlink.close();
      await ingest.close();
      await log.close();
    },
  };
};

beforeAll(async () => {
  [nats, db] = await Promise.all([startNatsServer(), freshPostgresDb()]);
  nodes.push(await startNode('A'), await startNode('B'));
}, 60_000);
afterAll(async () => {
  for (const n of nodes) await n.close();
  await db?.close();
  await nats?.stop();
});

const listen = async (node: Node, id: string, token: string) => {
  const c: MqttClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.ingest.port}`, {
    username: id,
    password: token,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  const got: { id: string; command: string }[] = [];
  c.on('message', (_t, p) => got.push(JSON.parse(p.toString())));
  await c.subscribeAsync(`v1/devices/${id}/commands`, { qos: 1 });
  return { c, got };
};
const request = (log: EventLog, deviceId: string, command: string) => {
  const subject = deviceCommandSubject(deviceId);
  const e = newEvent({
    type: DEVICE_COMMAND_REQUESTED,
    subject,
    source: 'test',
    data: { deviceId, command, expiresAt: Date.now() + 60_000, requestedBy: 'test' },
  });
  return log.append(subject, e, { msgId: e.id }).then(() => e.id);
};

describe('downlink across two ingest processes (through JetStream)', () => {
  it('reaches the process holding the connection, and a device that connects later to the other one', async () => {
    const [a, b] = nodes as [Node, Node];
    const token = (await deviceRegistry(db.sql).create({ id: 'bus-9' })).token;
    const onB = await listen(b, 'bus-9', token);
    const live = await request(a.log, 'bus-9', 'reboot'); // asked through A, the device is on B
    await until(() => onB.got.some((m) => m.id === live));
    const delivered = (await a.log.read('EVENTS', 100, { filterSubject: 'evt.devcmd.bus-9' }))
      .flatMap((m) => m.events)
      .filter((e) => e.type === 'device.command_delivered');
    expect(delivered.map((e) => (e.data as { node: string }).node)).toEqual(['B']);
    await onB.c.endAsync();

    const later = await request(b.log, 'bus-9', 'set_interval'); // nobody holds the device now
    await new Promise((r) => setTimeout(r, 200));
    const onA = await listen(a, 'bus-9', token);
    await until(() => onA.got.some((m) => m.id === later));
    expect(onA.got.map((m) => m.command)).toEqual(['set_interval']);
    await onA.c.endAsync();
  }, 30_000);
});

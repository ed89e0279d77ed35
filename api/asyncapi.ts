import type { TSchema } from '@sinclair/typebox';
import { eventCatalog } from '../schemas/events/catalog.js';
import type { EventDef } from '../schemas/events/define.js';
import { EventEnvelope, PRIORITIES } from '../schemas/events/envelope.js';
import { GpsSource } from '../schemas/events/gps.js';
import {
  DriverAck,
  DriverError,
  DriverLocation,
  DriverLocations,
  LocationPayload,
  MqttCommand,
  MqttErrorReport,
} from '../schemas/messages/device.js';
import { LiveError, LivePosition, LiveSnapshot, LiveStatus, LiveSubscribe, LiveSubscribed } from '../schemas/messages/live.js';

type Json = Record<string, unknown>;

export interface AsyncApiInfo {
  version: string;
}

/**
 * A plain JSON Schema from a TypeBox one: the JSON round trip drops TypeBox's symbol keys (Kind,
 * Optional), and `$id`s go (a message names its schema; an id would make it a second document).
 */
const plain = (s: TSchema): Json => {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== 'object') return node;
    const { $id: _id, ...rest } = node as Json;
    return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, strip(v)]));
  };
  return strip(JSON.parse(JSON.stringify(s))) as Json;
};

/** The log's first subject token of a domain, where it is not the event types' own prefix. */
const SUBJECT_TOKEN: Readonly<Record<string, string>> = { deviceCommand: 'devcmd' };

/** An event as it sits in a log message: the envelope, `type` fixed, `data` by its declaration. */
const envelopeOf = (def: EventDef): Json => {
  const envelope = plain(EventEnvelope);
  const properties = envelope.properties as Json;
  return {
    ...envelope,
    properties: { ...properties, type: { type: 'string', const: def.type }, data: plain(def.schema) },
  };
};

const message = (name: string, payload: Json, summary: string): Json => ({ name, title: name, summary, payload });
const ref = (path: string) => ({ $ref: `#/${path}` });

/**
 * The event catalogue as an AsyncAPI 3.0 document, generated from the same TypeBox declarations
 * as the events (`schemas/events/catalog.ts`) and the device and live-feed messages
 * (`schemas/messages/`): the log's subjects (JetStream in the distributed mode), the MQTT topics,
 * and the two WebSockets. Operations are the gateway's own view (`receive` what devices send).
 */
export const buildAsyncApi = (info: AsyncApiInfo): Json => {
  const channels: Record<string, Json> = {};
  const operations: Record<string, Json> = {};
  const messages: Record<string, Json> = {};

  for (const [domain, { defs }] of Object.entries(eventCatalog)) {
    const list = Object.values(defs) as EventDef[];
    const isGps = domain === 'gps';
    const isCommand = domain === 'command';
    const token = SUBJECT_TOKEN[domain] ?? (list[0]?.type.split('.')[0] as string);
    const channelId = `log.${domain}`;
    const channelMessages: Record<string, Json> = {};
    for (const def of list) {
      messages[def.type] = message(def.type, { type: 'array', minItems: 1, items: envelopeOf(def) }, def.type);
      channelMessages[def.type] = ref(`components/messages/${def.type}`);
    }
    channels[channelId] = {
      servers: [ref('servers/nats')],
      address: isGps ? 'gps.reported.{source}' : isCommand ? 'evt.{domain}.cmd.{priority}' : `evt.${token}.{rest}`,
      title: `${domain} events`,
      description:
        'A log message is a JSON array of one or more event envelopes (appended atomically; each event keeps its id). ' +
        (isGps
          ? 'Stream GPS (bounded age; ClickHouse keeps the history).'
          : isCommand
            ? 'Stream EVENTS, under the subject of the command it is about (its handler’s queue).'
            : 'Stream EVENTS.'),
      messages: channelMessages,
      parameters: isGps
        ? { source: { enum: GpsSource.anyOf.map((s) => s.const) } }
        : isCommand
          ? {
              domain: { description: 'the command’s domain, e.g. `email`' },
              priority: { enum: [...PRIORITIES] },
            }
          : {
              rest: {
                description: `the rest of the subject, e.g. \`cmd.{priority}\` (commands), \`result\` or \`status\` (outcomes)`,
              },
            },
    };
    operations[`${domain}Events`] = {
      action: 'send',
      title: `The gateway appends ${domain} events`,
      channel: ref(`channels/${channelId}`),
      messages: Object.keys(channelMessages).map((m) => ref(`channels/${channelId}/messages/${m}`)),
    };
  }

  const device = (
    id: string,
    address: string,
    description: string,
    entries: Record<string, [TSchema, string]>,
    server = address.startsWith('/') ? 'http' : 'mqtt',
  ) => {
    const channelMessages: Record<string, Json> = {};
    for (const [name, [schema, summary]] of Object.entries(entries)) {
      messages[name] = message(name, plain(schema), summary);
      channelMessages[name] = ref(`components/messages/${name}`);
    }
    channels[id] = {
      address,
      servers: [ref(`servers/${server}`)],
      description,
      messages: channelMessages,
      ...(address.includes('{deviceId}')
        ? { parameters: { deviceId: { description: 'the device id (the MQTT username)' } } }
        : {}),
    };
  };
  const operation = (id: string, action: 'send' | 'receive', channel: string, names: string[], title: string) => {
    operations[id] = {
      action,
      title,
      channel: ref(`channels/${channel}`),
      messages: names.map((m) => ref(`channels/${channel}/messages/${m}`)),
    };
  };

  device('mqtt.location', 'v1/devices/{deviceId}/location', 'QoS 1 is acknowledged once the log holds the points.', {
    'mqtt.location': [LocationPayload, 'one position or a buffer of them'],
  });
  device('mqtt.commands', 'v1/devices/{deviceId}/commands', 'Subscribe at QoS 1; PUBACK marks the command acked.', {
    'mqtt.command': [MqttCommand, 'a downlink command'],
  });
  device('mqtt.errors', 'v1/devices/{deviceId}/errors', 'Sent only to a device that subscribed here (QoS 0).', {
    'mqtt.error': [MqttErrorReport, 'a refused point'],
  });
  device('ws.driver', '/v1/ws/driver', 'Driver phones; the driver token as `Authorization: Bearer` or `?token=`.', {
    'driver.location': [DriverLocation, 'one position'],
    'driver.locations': [DriverLocations, 'a buffer of positions'],
    'driver.ack': [DriverAck, 'the points the log holds now'],
    'driver.error': [DriverError, 'a refused message or point, or points not stored'],
  });
  device('ws.live', '/v1/ws/live', 'CRM dashboards: positions of the vehicles an API key (scope `vehicles`) may see.', {
    'live.subscribe': [LiveSubscribe, 'choose vehicles'],
    'live.subscribed': [LiveSubscribed, 'the subscription is in place'],
    'live.snapshot': [LiveSnapshot, 'the last known positions, sent first'],
    'live.position': [LivePosition, 'an accepted position'],
    'live.status': [LiveStatus, 'a vehicle went online or offline'],
    'live.error': [LiveError, 'a refused message'],
  });
  operation('receiveDeviceLocation', 'receive', 'mqtt.location', ['mqtt.location'], 'Devices publish positions');
  operation('sendDeviceCommand', 'send', 'mqtt.commands', ['mqtt.command'], 'The gateway publishes downlink commands');
  operation('sendDeviceError', 'send', 'mqtt.errors', ['mqtt.error'], 'The gateway reports refused points');
  operation('receiveDriverLocation', 'receive', 'ws.driver', ['driver.location', 'driver.locations'], 'Phones send positions');
  operation('sendDriverReply', 'send', 'ws.driver', ['driver.ack', 'driver.error'], 'The gateway acknowledges or refuses');
  operation('receiveLiveSubscribe', 'receive', 'ws.live', ['live.subscribe'], 'A dashboard subscribes');
  operation(
    'sendLiveUpdate',
    'send',
    'ws.live',
    ['live.subscribed', 'live.snapshot', 'live.position', 'live.status', 'live.error'],
    'The gateway streams positions and status',
  );

  const sortedKeys = (o: Record<string, Json>) =>
    Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    );
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'fleetgate events',
      version: info.version,
      description:
        'The event catalogue of fleetgate: the event log’s subjects and events (NATS JetStream streams EVENTS, GPS and DLQ in the distributed mode; the same envelopes in the embedded log), the MQTT topics devices use, and the WebSockets `/v1/ws/driver` and `/v1/ws/live`. Generated from the TypeBox declarations the gateway validates and builds its events with. The HTTP API is in `/openapi.json`.',
    },
    defaultContentType: 'application/json',
    servers: {
      nats: { host: 'localhost:4222', protocol: 'nats', description: 'the event log (`NATS_URL`)' },
      mqtt: { host: 'localhost:1883', protocol: 'mqtt', description: 'devices (`MQTT_PORT`)' },
      http: { host: 'localhost:8080', protocol: 'ws', description: 'WebSockets (`HTTP_PORT`)' },
    },
    channels: sortedKeys(channels),
    operations: sortedKeys(operations),
    components: { messages: sortedKeys(messages) },
  };
};

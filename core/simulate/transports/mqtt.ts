import type { SimPoint } from '../vehicle.js';
import { type DeviceLink, inBatches, type OpenLink } from './link.js';

type MqttModule = typeof import('mqtt');

let mqttModule: Promise<MqttModule> | undefined;
/**
 * mqtt.js is a development dependency (the gateway itself never speaks MQTT as a client): loaded
 * only when a simulation has MQTT vehicles, with a clear message where it was not installed.
 */
const loadMqtt = () =>
  (mqttModule ??= import('mqtt').catch(() => {
    throw new Error(
      'simulating MQTT devices needs the "mqtt" package: run npm install (without --omit=dev), or leave mqtt out of --mix',
    );
  }));

/**
 * A GPS unit on MQTT 3.1.1 (username = device id, password = token): one QoS 1 publish per send,
 * a single fix as an object and a buffered batch as an array, as the ingest contract has it. It
 * subscribes to its errors topic, where the gateway reports refused points.
 */
export const mqttLink =
  (url: string): OpenLink =>
  async (device, onRefused) => {
    const mqtt = await loadMqtt();
    const client = await mqtt.connectAsync(url, {
      clientId: device.id,
      username: device.id,
      password: device.token,
      protocolVersion: 4,
      keepalive: 60,
      clean: true,
      // The simulation decides when a vehicle comes back (with its buffer), not mqtt.js.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    // Failures surface as rejected publishes (the vehicle reconnects); an unheard 'error' would end the process.
    client.on('error', () => {});
    const errors = `v1/devices/${device.id}/errors`;
    client.on('message', (topic, payload) => {
      if (topic !== errors) return;
      try {
        const report = JSON.parse(payload.toString()) as { reason?: string };
        onRefused(device.id, report.reason ?? 'unknown', 1);
      } catch {
        onRefused(device.id, 'unreadable_error_report', 1);
      }
    });
    await client.subscribeAsync(errors, { qos: 0 });
    const topic = `v1/devices/${device.id}/location`;
    const link: DeviceLink = {
      send: (points: SimPoint[]) =>
        inBatches(points, async (batch) => {
          await client.publishAsync(topic, JSON.stringify(batch.length === 1 ? batch[0] : batch), { qos: 1 });
        }),
      close: async () => {
        await client.endAsync(true);
      },
    };
    return link;
  };

import type { SimPoint } from '../vehicle.js';
import { type DeviceLink, inBatches, type OpenLink } from './link.js';

/** A point in Traccar Client's JSON variant (v9+): m/s, battery 0..1, the point id as its `uuid`. */
const traccarLocation = (p: SimPoint) => ({
  timestamp: new Date(p.ts).toISOString(),
  uuid: p.id,
  coords: { latitude: p.lat, longitude: p.lon, speed: Math.round((p.speed / 3.6) * 100) / 100, heading: p.heading, accuracy: 8 },
  battery: { level: p.battery / 100, is_charging: false },
  is_moving: p.speed > 0,
});

/**
 * A phone running Traccar Client against the OsmAnd port: each send is one HTTP POST of the JSON
 * variant (`location` a list for a buffered batch, the plugin's sync), answered 200 once stored.
 * The identifier the app sends is the device token.
 */
export const osmandLink =
  (url: string): OpenLink =>
  async (device, onRefused) => {
    const post = async (batch: SimPoint[]) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          device_id: device.token,
          location: batch.length === 1 ? traccarLocation(batch[0] as SimPoint) : batch.map(traccarLocation),
        }),
        signal: AbortSignal.timeout(15_000),
      });
      if (res.status === 200) return;
      const body = (await res.json().catch(() => ({}))) as { reason?: string };
      // A 400 is final for these points (a resend is refused the same way); anything else is retried.
      if (res.status === 400) return onRefused(device.id, body.reason ?? 'bad_request', batch.length);
      throw new Error(`OsmAnd answered ${res.status} ${body.reason ?? ''}`.trim());
    };
    const link: DeviceLink = { send: (points) => inBatches(points, post), close: async () => {} };
    return link;
  };

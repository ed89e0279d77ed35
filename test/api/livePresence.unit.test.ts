import { describe, expect, it } from 'vitest';
import { vehiclePresence } from '../../api/live/presence.js';
import type { GpsReported } from '../../schemas/events/gps.js';

const point = (deviceId: string): GpsReported =>
  ({ deviceId, ts: 1_767_261_600_000, lat: 55.75, lon: 37.62, source: 'mqtt', receivedAt: 1_767_261_601_000 }) as GpsReported;

describe('live presence', () => {
  it("adds the CRM vehicle's plate and driver name to a position where the label is known", () => {
    const sent: Array<Record<string, unknown>> = [];
    const labels = new Map([['taxi-1', { plate: 'Е101КХ77', driverName: 'Анна Смирнова' }]]);
    const presence = vehiclePresence(
      60_000,
      (_id, m) => sent.push(m as Record<string, unknown>),
      (id) => labels.get(id),
    );
    presence.reported(point('taxi-1'));
    presence.reported(point('taxi-2'));
    const positions = sent.filter((m) => m.type === 'position');
    expect(positions[0]).toMatchObject({ deviceId: 'taxi-1', plate: 'Е101КХ77', driverName: 'Анна Смирнова' });
    expect(positions[1]?.deviceId).toBe('taxi-2');
    expect(positions[1]).not.toHaveProperty('plate');
  });
});

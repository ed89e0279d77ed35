import type { GatewayApi } from './gatewayApi.js';
import type { Protocol } from './transports/link.js';

/** A simulated vehicle's identity in the gateway and the CRM. */
export interface FleetMember {
  index: number;
  deviceId: string;
  protocol: Protocol;
  driverId: string;
  driverName: string;
  vehicleId: string;
  plate: string;
}

const FIRST = ['Анна', 'Иван', 'Мария', 'Олег', 'Елена', 'Сергей', 'Ольга', 'Дмитрий', 'Наталья', 'Артём', 'Ирина', 'Павел'];
const LAST = ['Смирнов', 'Кузнецов', 'Попов', 'Соколов', 'Лебедев', 'Козлов', 'Новиков', 'Морозов', 'Волков', 'Зайцев'];
/** Letters Russian plates use (those that look the same in Latin). */
const PLATE_LETTERS = 'АВЕКМНОРСТУХ';

const feminine = (first: string) => /[ая]$/.test(first);

/** Names, plates and ids follow from the index alone, so a second run with the same prefix finds the same fleet. */
export const fleetMember = (prefix: string, index: number, protocol: Protocol): FleetMember => {
  const n = index + 1;
  const first = FIRST[index % FIRST.length] as string;
  const last = LAST[Math.floor(index / FIRST.length) % LAST.length] as string;
  const letter = (k: number) => PLATE_LETTERS[(index * 7 + k * 5) % PLATE_LETTERS.length];
  return {
    index,
    deviceId: `${prefix}-${protocol}-${n}`,
    protocol,
    driverId: `${prefix}-driver-${n}`,
    driverName: `${first} ${last}${feminine(first) ? 'а' : ''}`,
    vehicleId: `${prefix}-vehicle-${n}`,
    plate: `${letter(0)}${String(100 + (n % 900)).padStart(3, '0')}${letter(1)}${letter(2)}77`,
  };
};

/**
 * Registers the device (a GPS unit on MQTT, a driver's phone on WebSocket or OsmAnd) and returns
 * its token. A device left by an earlier run is given a new token instead (its old one was shown
 * once and is gone), and enabled again.
 */
export const registerDevice = async (api: GatewayApi, m: FleetMember): Promise<string> => {
  const kind = m.protocol === 'mqtt' ? 'unit' : 'phone';
  const created = await api.call<{ token: string }>(
    'POST',
    '/api/v1/devices',
    { id: m.deviceId, kind, driverId: m.driverId, name: m.plate },
    [201, 409],
  );
  if (created.status === 201) return created.body.token;
  await api.call('POST', `/api/v1/devices/${m.deviceId}/enable`, undefined, [200, 204]);
  return (await api.call<{ token: string }>('POST', `/api/v1/devices/${m.deviceId}/rotate`)).body.token;
};

const BATCH = 500;

/** The CRM's drivers and vehicles (plate, driver, GPS unit), so /live names each vehicle as the CRM does. */
export const upsertFleetRecords = async (api: GatewayApi, members: FleetMember[], version: number) => {
  for (let i = 0; i < members.length; i += BATCH) {
    const part = members.slice(i, i + BATCH);
    await api.call('POST', '/api/v1/records/drivers/batch', {
      records: part.map((m) => ({ id: m.driverId, version, name: m.driverName, status: 'active' })),
    });
    await api.call('POST', '/api/v1/records/vehicles/batch', {
      records: part.map((m) => ({
        id: m.vehicleId,
        version,
        plate: m.plate,
        model: m.protocol === 'mqtt' ? 'Ford Transit' : 'Hyundai Solaris',
        driverId: m.driverId,
        gpsDeviceIds: [m.deviceId],
      })),
    });
  }
};

import type { GatewayApi } from './gatewayApi.js';
import { offsetM } from './geometry.js';
import type { FleetMember } from './provision.js';
import { between, pick, type Random } from './random.js';
import { type City, DEFAULT_CITY } from './routes.js';

/** What the CRM side of the simulation did, for the progress line. */
export interface CrmCounts {
  applications: number;
  updates: number;
  sms: number;
  failed: number;
  lastError?: string;
}

const STREETS = ['Тверская', 'Арбат', 'Покровка', 'Мясницкая', 'Пятницкая', 'Остоженка', 'Сретенка', 'Маросейка'];
/** At most this many SMS per run: enough to show the queue and the log working, never a flood. */
const MAX_SMS = 2;

interface Integration {
  name: string;
  enabled: { value: boolean };
  testMode: { value: boolean };
}

/**
 * SMS only when every enabled SMS integration is in test mode: a simulation must never text real
 * phone numbers through a live provider.
 */
const smsInTestMode = async (api: GatewayApi) => {
  const list = await api.call<{ items: Integration[] }>('GET', '/api/v1/integrations');
  const sms = list.body.items.filter((i) => i.name.startsWith('sms') && i.enabled.value);
  return sms.every((i) => i.testMode.value);
};

/**
 * The CRM's load beside the devices: an application (a ride) every few seconds, assigned to a
 * vehicle of the fleet and completed later (`PUT /api/v1/records/applications/{id}`, versions
 * 1–3), and an SMS to the passenger for the first two assignments (test mode only).
 */
export const crmLoad = (o: {
  api: GatewayApi;
  fleet: FleetMember[];
  random: Random;
  runId: string;
  prefix: string;
  /** Seconds between new applications. */
  everyS: number;
  city?: City;
}) => {
  const counts: CrmCounts = { applications: 0, updates: 0, sms: 0, failed: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const pending = new Set<Promise<void>>();
  let stopped = false;
  let smsAllowed: Promise<boolean> | undefined;
  const city = o.city ?? DEFAULT_CITY;

  const track = (work: () => Promise<void>) => {
    const p = work()
      .catch((e: Error) => {
        counts.failed++;
        counts.lastError = e.message;
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  const later = (seconds: number, work: () => Promise<void>) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) track(work);
    }, seconds * 1000);
    timers.add(t);
  };
  const place = () => {
    const p = offsetM(city.center, between(o.random, -4000, 4000), between(o.random, -4000, 4000));
    const lat = Math.round(p.lat * 1e6) / 1e6;
    const lon = Math.round(p.lon * 1e6) / 1e6;
    return { address: `ул. ${pick(o.random, STREETS)}, ${1 + Math.floor(o.random() * 60)}`, lat, lon };
  };

  let n = 0;
  const newApplication = async () => {
    const id = `${o.prefix}-app-${o.runId}-${++n}`;
    const member = pick(o.random, o.fleet);
    const base = {
      kind: 'ride',
      price: { amount: Math.round(between(o.random, 250, 1800)) * 100, currency: 'RUB' },
      pickup: place(),
      dropoff: place(),
      createdAt: new Date().toISOString(),
    };
    const put = (version: number, fields: Record<string, unknown>) =>
      o.api.call('PUT', `/api/v1/records/applications/${id}`, { version, ...base, ...fields });
    await put(1, { status: 'new' });
    counts.applications++;
    later(between(o.random, 2, 6), async () => {
      const assignedAt = new Date().toISOString();
      await put(2, { status: 'assigned', driverId: member.driverId, vehicleId: member.vehicleId, assignedAt });
      counts.updates++;
      smsAllowed ??= smsInTestMode(o.api);
      if (counts.sms < MAX_SMS && (await smsAllowed)) {
        counts.sms++;
        await o.api.call('POST', '/api/v1/sms', {
          to: `+7999${String(1_000_000 + n).slice(-7)}`,
          text: `Ваш водитель ${member.driverName} приедет на ${member.plate}`,
        });
      }
      later(between(o.random, 10, 30), async () => {
        await put(3, {
          status: 'completed',
          driverId: member.driverId,
          vehicleId: member.vehicleId,
          assignedAt,
          completedAt: new Date().toISOString(),
        });
        counts.updates++;
      });
    });
  };

  const loop = () => {
    if (stopped) return;
    track(newApplication);
    later(o.everyS * between(o.random, 0.5, 1.5), async () => loop());
  };
  loop();

  return {
    counts,
    /** Stops making new work and waits for requests already sent. */
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.allSettled([...pending]);
    },
  };
};

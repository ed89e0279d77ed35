import { crmLoad } from './crmLoad.js';
import { type PlannedVehicle, planFleet } from './fleet.js';
import { gatewayApi } from './gatewayApi.js';
import { registerDevice, upsertFleetRecords } from './provision.js';
import { between, seededRandom } from './random.js';
import type { DeviceLink, OpenLink, Protocol } from './transports/link.js';
import { mqttLink } from './transports/mqtt.js';
import { osmandLink } from './transports/osmand.js';
import { wsLink } from './transports/ws.js';
import { advance, fixOf, type Motion, type SimPoint, startMotion } from './vehicle.js';

export interface SimulateOptions {
  devices: number;
  /** Fixes per second over the whole fleet: each vehicle reports every devices / rate seconds. */
  rate: number;
  mix: Protocol[];
  seed: number;
  /** Stop after this many seconds; undefined: until `signal` aborts (Ctrl-C). */
  durationS: number | undefined;
  apiUrl: string;
  mqttUrl: string;
  osmandUrl: string;
  /** An API key with the devices, records and sms scopes (an admin key). */
  key: string;
  /** Device, driver, vehicle and application ids start with it. */
  prefix: string;
  /** About this share of the fleet is offline at any time, buffering its fixes. */
  offlineShare: number;
  /** Mean length of an offline spell, seconds (each is 0.5–1.5 times it). */
  offlineForS: number;
  /** Mean seconds between new CRM applications (0: no CRM load). */
  crmEveryS: number;
  out(line: string): void;
  signal?: AbortSignal;
}

export interface SimulateSummary {
  seconds: number;
  vehicles: number;
  /** Fixes acknowledged by the gateway, per protocol. */
  acked: Record<Protocol, number>;
  /** Offline spells that ended with the buffer sent, and the fixes those batches held. */
  batchesResent: number;
  bufferedResent: number;
  offlineNow: number;
  /** Fixes still in offline buffers when the run stopped (never sent). */
  unsent: number;
  refused: number;
  errors: number;
  lastError?: string;
  crm: { applications: number; updates: number; sms: number; failed: number };
}

interface LiveVehicle extends PlannedVehicle {
  random: () => number;
  motion: Motion;
  link?: DeviceLink;
  token: string;
  seq: number;
  lastAt: number;
  offlineUntil: number;
  /** Fixes taken while offline (or while a send was in flight), oldest first. */
  buffer: SimPoint[];
  sending: boolean;
  connecting: boolean;
  /** The fixes in `buffer` were taken offline: sending them is a resent batch. */
  wasOffline: boolean;
}

/** How long stopping waits for answers to the sends in flight. */
const STOP_WAIT_MS = 10_000;

const pool = async <T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
};

/**
 * `fleetgate simulate`: registers the fleet through the API (as a CRM would), connects each
 * vehicle over its protocol and drives it along its route, reporting every devices / rate
 * seconds; some go offline and come back with their buffered fixes as one batch; the CRM load
 * runs beside. Progress every 5 s; stops at `durationS` or when `signal` aborts, closing every
 * connection after the sends in flight are answered.
 */
export const simulate = async (o: SimulateOptions): Promise<SimulateSummary> => {
  const api = gatewayApi(o.apiUrl, o.key);
  const started = Date.now();
  const runId = started.toString(36);
  const planned = planFleet({ seed: o.seed, devices: o.devices, mix: o.mix, prefix: o.prefix });
  const open: Record<Protocol, OpenLink> = {
    mqtt: mqttLink(o.mqttUrl),
    ws: wsLink(o.apiUrl),
    osmand: osmandLink(o.osmandUrl),
  };
  const summary: SimulateSummary = {
    seconds: 0,
    vehicles: o.devices,
    acked: { mqtt: 0, ws: 0, osmand: 0 },
    batchesResent: 0,
    bufferedResent: 0,
    offlineNow: 0,
    unsent: 0,
    refused: 0,
    errors: 0,
    crm: { applications: 0, updates: 0, sms: 0, failed: 0 },
  };
  const failed = (e: unknown) => {
    summary.errors++;
    summary.lastError = e instanceof Error ? e.message : String(e);
  };
  const onRefused = (_device: string, reason: string, count: number) => {
    summary.refused += count;
    summary.lastError = `refused: ${reason}`;
  };

  o.out(`registering ${o.devices} devices (${o.mix.join(', ')}) and their CRM drivers and vehicles at ${o.apiUrl}`);
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
  const vehicles: LiveVehicle[] = [];
  await pool(planned, 16, async (p) => {
    const token = await registerDevice(api, p.member);
    const random = seededRandom(p.seed ^ 0x5bd1e995);
    vehicles.push({
      ...p,
      random,
      motion: startMotion(random),
      token,
      seq: 0,
      lastAt: 0,
      offlineUntil: 0,
      buffer: [],
      sending: false,
      connecting: false,
      wasOffline: false,
    });
  });
  vehicles.sort((a, b) => a.member.index - b.member.index);
  await upsertFleetRecords(
    api,
    vehicles.map((v) => v.member),
    started,
  );
  o.out(`registered in ${since(started)}; connecting ${o.devices} vehicles`);
  const connecting = Date.now();
  await pool(vehicles, 32, async (v) => {
    v.link = await open[v.member.protocol]({ id: v.member.deviceId, token: v.token }, onRefused);
  });

  const intervalS = o.devices / o.rate;
  // Offline spells start at a rate that keeps about offlineShare of the fleet offline.
  const spellStartsPerS =
    o.offlineShare >= 1 ? Number.POSITIVE_INFINITY : o.offlineShare / (o.offlineForS * (1 - o.offlineShare));
  const pOffline = Math.min(1, spellStartsPerS * intervalS);
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();

  const flush = (v: LiveVehicle) => {
    if (v.sending || !v.link || v.buffer.length === 0) return;
    const batch = v.buffer.splice(0, v.buffer.length);
    const resent = v.wasOffline;
    v.wasOffline = false;
    v.sending = true;
    const link = v.link;
    const p = link
      .send(batch)
      .then(() => {
        summary.acked[v.member.protocol] += batch.length;
        if (resent) {
          summary.batchesResent++;
          summary.bufferedResent += batch.length;
        }
      })
      .catch((e: unknown) => {
        // Kept for the next attempt, over a new connection (the gateway dedupes a resend by point id).
        v.buffer.unshift(...batch);
        if (v.link !== link) {
          // The vehicle went offline with this batch unanswered: it is part of the buffer it comes back with.
          v.wasOffline = true;
          return;
        }
        failed(e);
        v.wasOffline ||= resent;
        v.link = undefined;
        void link.close().catch(() => {});
      })
      .finally(() => {
        v.sending = false;
        inFlight.delete(p);
      });
    inFlight.add(p);
  };

  const reconnect = (v: LiveVehicle) => {
    // One attempt at a time: a second connection for the same device would replace the first.
    if (v.connecting) return;
    v.connecting = true;
    const p = open[v.member.protocol]({ id: v.member.deviceId, token: v.token }, onRefused)
      .then((link) => {
        if (stopped) return link.close();
        v.link = link;
        flush(v);
      })
      .catch(failed)
      .finally(() => {
        v.connecting = false;
        inFlight.delete(p);
      });
    inFlight.add(p);
  };

  const tick = (v: LiveVehicle) => {
    const now = Date.now();
    advance(v.route, v.motion, v.lastAt ? (now - v.lastAt) / 1000 : 0, v.random);
    v.lastAt = now;
    v.buffer.push(fixOf(v.route, v.motion, `${runId}-${v.member.index + 1}-${++v.seq}`, now, v.random));
    if (v.offlineUntil > now) return;
    if (v.offlineUntil > 0) {
      // Back: reconnect and send what was buffered as one batch.
      v.offlineUntil = 0;
      summary.offlineNow--;
      if (!v.link) reconnect(v);
      else flush(v);
      return;
    }
    if (v.random() < pOffline) {
      v.offlineUntil = now + between(v.random, 0.5, 1.5) * o.offlineForS * 1000;
      v.wasOffline = true;
      summary.offlineNow++;
      const link = v.link;
      v.link = undefined;
      if (link) void link.close().catch(() => {});
      return;
    }
    if (!v.link) reconnect(v);
    else flush(v);
  };

  const schedule = (v: LiveVehicle, delayS: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (stopped) return;
      tick(v);
      schedule(v, intervalS);
    }, delayS * 1000);
    timers.add(t);
  };
  const driving = Date.now();
  // Spread over the first interval, so the fleet does not report in lockstep.
  for (const v of vehicles) schedule(v, v.random() * intervalS);
  const crm =
    o.crmEveryS > 0
      ? crmLoad({
          api,
          fleet: vehicles.map((v) => v.member),
          random: seededRandom(o.seed ^ 0x27d4eb2f),
          runId,
          prefix: o.prefix,
          everyS: o.crmEveryS,
        })
      : undefined;

  const line = () => {
    const s = Math.round((Date.now() - driving) / 1000);
    const acked = summary.acked.mqtt + summary.acked.ws + summary.acked.osmand;
    const buffered = vehicles.reduce((n, v) => n + (v.offlineUntil > 0 ? v.buffer.length : 0), 0);
    const c = crm?.counts;
    return (
      `${s} s: ${acked} fixes acked (mqtt ${summary.acked.mqtt}, ws ${summary.acked.ws}, osmand ${summary.acked.osmand}); ` +
      `${summary.offlineNow} offline holding ${buffered}, ${summary.batchesResent} buffered batches sent (${summary.bufferedResent} fixes); ` +
      `${summary.refused} refused, ${summary.errors} errors` +
      (c
        ? `; CRM ${c.applications} applications, ${c.updates} updates, ${c.sms} SMS${c.failed ? `, ${c.failed} failed` : ''}`
        : '') +
      (summary.lastError ? ` (last: ${summary.lastError})` : '')
    );
  };
  o.out(
    `connected in ${since(connecting)}; driving: every vehicle reports every ${intervalS.toFixed(1)} s; open ${o.apiUrl}/live?key=<a key with the vehicles scope> to watch`,
  );
  const progress = setInterval(() => o.out(line()), 5_000);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    if (o.durationS !== undefined) timers.add(setTimeout(done, o.durationS * 1000));
    if (o.signal?.aborted) return done();
    o.signal?.addEventListener('abort', done, { once: true });
  });
  stopped = true;
  clearInterval(progress);
  for (const t of timers) clearTimeout(t);
  // The sends in flight get up to STOP_WAIT_MS for their answers, then the connections close
  // (which fails whatever is still unanswered: those fixes count as unsent).
  const settled = (work: Promise<unknown>) => Promise.race([work, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
  await settled(Promise.allSettled([crm?.stop(), ...inFlight]));
  await Promise.allSettled(vehicles.map((v) => v.link?.close()));
  await settled(Promise.allSettled([...inFlight]));
  summary.seconds = Math.round((Date.now() - started) / 100) / 10;
  summary.unsent = vehicles.reduce((n, v) => n + v.buffer.length, 0);
  if (crm) summary.crm = { ...crm.counts };
  o.out(`stopped: ${line()}; ${summary.unsent} fixes left unsent in offline buffers`);
  return summary;
};

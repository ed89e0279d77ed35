import { bearingDeg, distanceM, interpolate } from './geometry.js';
import { between, type Random } from './random.js';
import type { Route } from './routes.js';

/** One fix as a device reports it (the MQTT payload's fields; the transports map them to theirs). */
export interface SimPoint {
  id: string;
  ts: number;
  lat: number;
  lon: number;
  speed: number;
  heading: number;
  battery: number;
  satellites: number;
}

/** Where a vehicle is on its route and what it is doing. */
export interface Motion {
  /** Driving from waypoint `from` towards `from + dir`; the route is driven there and back. */
  from: number;
  dir: 1 | -1;
  /** Metres driven along the current leg. */
  alongM: number;
  speedKmh: number;
  /** Seconds still to wait (a stop at a waypoint, a red light). */
  waitS: number;
  battery: number;
  heading: number;
}

const ACCEL_MPS2 = 1.8;
const BRAKE_MPS2 = 3;
/** Slow to this near a turn or a stop. */
const TURN_KMH = 15;
/** Battery use per second, percent: a tracker on the vehicle's power still drains its own cell a little. */
const DRAIN_DRIVING = 0.03;
const DRAIN_PARKED = 0.005;

export const startMotion = (random: Random): Motion => ({
  from: 0,
  dir: 1,
  alongM: 0,
  speedKmh: 0,
  waitS: 0,
  battery: Math.round(between(random, 35, 100)),
  heading: 0,
});

const legOf = (route: Route, m: Motion) => {
  const a = route.waypoints[m.from];
  const b = route.waypoints[m.from + m.dir];
  if (!a || !b) throw new Error(`simulate: leg ${m.from}→${m.from + m.dir} outside a route of ${route.waypoints.length}`);
  return { a, b, lengthM: distanceM(a, b) };
};

/** One step of at most a second: accelerate or brake towards the speed the road allows, drive, stop. */
const step = (route: Route, m: Motion, dt: number, random: Random) => {
  m.battery = Math.max(0, m.battery - (m.speedKmh > 0 ? DRAIN_DRIVING : DRAIN_PARKED) * dt);
  // A low battery is swapped or charged at the next stop: back to full.
  if (m.battery < 8 && m.speedKmh === 0) m.battery = 100;
  if (m.waitS > 0) {
    m.waitS = Math.max(0, m.waitS - dt);
    m.speedKmh = 0;
    return;
  }
  const { a, b, lengthM } = legOf(route, m);
  const leftM = lengthM - m.alongM;
  const target = leftM < 40 ? TURN_KMH : route.cruiseKmh;
  const v = m.speedKmh / 3.6;
  const wanted = target / 3.6;
  const next = wanted > v ? Math.min(wanted, v + ACCEL_MPS2 * dt) : Math.max(wanted, v - BRAKE_MPS2 * dt);
  m.speedKmh = next * 3.6;
  m.alongM += ((v + next) / 2) * dt;
  m.heading = bearingDeg(a, b);
  if (m.alongM < lengthM) {
    // A red light now and then, mid-block.
    if (random() < 0.004 * dt) m.waitS = between(random, 5, 25);
    return;
  }
  // Reached b: turn onto the next leg (or back at either end), stopping if b is a stop.
  m.alongM = 0;
  m.from += m.dir;
  if (m.from + m.dir < 0 || m.from + m.dir >= route.waypoints.length) m.dir = m.dir === 1 ? -1 : 1;
  const stopS = route.waypoints[m.from]?.stopS ?? 0;
  if (stopS > 0) {
    m.waitS = stopS;
    m.speedKmh = 0;
  } else {
    m.speedKmh = Math.min(m.speedKmh, TURN_KMH);
  }
};

/** Drives `seconds` on, in steps of at most a second. */
export const advance = (route: Route, m: Motion, seconds: number, random: Random) => {
  let left = seconds;
  while (left > 0) {
    const dt = Math.min(1, left);
    step(route, m, dt, random);
    left -= dt;
  }
};

export const positionOf = (route: Route, m: Motion) => {
  const { a, b, lengthM } = legOf(route, m);
  return interpolate(a, b, lengthM > 0 ? Math.min(1, m.alongM / lengthM) : 0);
};

const round = (v: number, decimals: number) => Math.round(v * 10 ** decimals) / 10 ** decimals;

/** The fix a device would report now: `id` is unique per run (`${runId}-${deviceId}-${seq}`), so a resend is deduped. */
export const fixOf = (route: Route, m: Motion, id: string, ts: number, random: Random): SimPoint => {
  const p = positionOf(route, m);
  return {
    id,
    ts,
    lat: round(p.lat, 6),
    lon: round(p.lon, 6),
    speed: round(m.speedKmh, 1),
    heading: Math.round(m.heading) % 360,
    battery: Math.round(m.battery),
    satellites: 6 + Math.floor(random() * 8),
  };
};

import { distanceM, type LatLon, offsetM } from './geometry.js';
import { between, type Random } from './random.js';

/** Where the fleet drives: a street grid around a centre (Moscow's by default, as in the /live screenshots). */
export interface City {
  center: LatLon;
  /** Metres between parallel streets. */
  blockM: number;
  /** Routes stay within this distance of the centre. */
  radiusM: number;
  /** The grid's rotation from north, degrees (a city's streets are rarely aligned with the meridians). */
  gridDeg: number;
}

export const DEFAULT_CITY: City = { center: { lat: 55.7539, lon: 37.6208 }, blockM: 350, radiusM: 6_000, gridDeg: 17 };

export interface Waypoint extends LatLon {
  /** Seconds the vehicle waits here (a pickup or a drop-off); 0: it drives through. */
  stopS: number;
}

/** A drive through the grid, intersection to intersection, driven there and back again. */
export interface Route {
  waypoints: Waypoint[];
  /** Cruising speed on this route, km/h (a courier van, a taxi on avenues). */
  cruiseKmh: number;
}

/** Grid steps east/north in street units; turning means moving to the next direction. */
const DIRECTIONS = [
  [1, 0],
  [0, 1],
  [-1, 0],
  [0, -1],
] as const;

const gridPoint = (city: City, x: number, y: number): LatLon => {
  const a = (city.gridDeg * Math.PI) / 180;
  const east = (x * Math.cos(a) - y * Math.sin(a)) * city.blockM;
  const north = (x * Math.sin(a) + y * Math.cos(a)) * city.blockM;
  return offsetM(city.center, east, north);
};

/**
 * A route of 12–24 legs of 1–5 blocks, mostly straight on with left and right turns (never a
 * U-turn), turning back towards the centre when it would leave the city; about one waypoint in
 * five is a stop of 5–40 s.
 */
export const planRoute = (random: Random, city: City = DEFAULT_CITY): Route => {
  const span = Math.floor(city.radiusM / city.blockM);
  let x = Math.round(between(random, -span, span) * 0.7);
  let y = Math.round(between(random, -span, span) * 0.7);
  let dir = Math.floor(random() * 4);
  const waypoints: Waypoint[] = [{ ...gridPoint(city, x, y), stopS: 0 }];
  const legs = 12 + Math.floor(random() * 13);
  for (let i = 0; i < legs; i++) {
    const r = random();
    if (r < 0.3) dir = (dir + 1) % 4;
    else if (r < 0.6) dir = (dir + 3) % 4;
    const blocks = 1 + Math.floor(random() * 5);
    let [dx, dy] = DIRECTIONS[dir] as readonly [number, number];
    const next = gridPoint(city, x + dx * blocks, y + dy * blocks);
    if (distanceM(city.center, next) > city.radiusM) {
      // Head back in: the axis direction that points at the centre.
      dir = Math.abs(x) > Math.abs(y) ? (x > 0 ? 2 : 0) : y > 0 ? 3 : 1;
      [dx, dy] = DIRECTIONS[dir] as readonly [number, number];
    }
    x += dx * blocks;
    y += dy * blocks;
    waypoints.push({ ...gridPoint(city, x, y), stopS: random() < 0.2 ? Math.round(between(random, 5, 40)) : 0 });
  }
  return { waypoints, cruiseKmh: Math.round(between(random, 28, 62)) };
};

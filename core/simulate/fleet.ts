import { type FleetMember, fleetMember } from './provision.js';
import { seededRandom, streamSeed } from './random.js';
import { type City, DEFAULT_CITY, planRoute, type Route } from './routes.js';
import type { Protocol } from './transports/link.js';

export interface PlannedVehicle {
  member: FleetMember;
  route: Route;
  /** The vehicle's own stream: its start, speeds, stops and offline spells. */
  seed: number;
}

/**
 * The fleet a seed stands for: vehicle i speaks `mix[i % mix.length]` and drives the route drawn
 * from its own stream, so the same seed (and prefix and mix) gives the same vehicles on the same
 * routes, whatever the rate or duration.
 */
export const planFleet = (o: { seed: number; devices: number; mix: readonly Protocol[]; prefix: string; city?: City }) =>
  Array.from({ length: o.devices }, (_, i): PlannedVehicle => {
    const seed = streamSeed(o.seed, i);
    return {
      member: fleetMember(o.prefix, i, o.mix[i % o.mix.length] as Protocol),
      route: planRoute(seededRandom(seed), o.city ?? DEFAULT_CITY),
      seed,
    };
  });

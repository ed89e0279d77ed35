/** A seeded pseudo-random source: the same seed gives the same fleet, routes and behaviour draws. */
export type Random = () => number;

/** mulberry32: 32-bit state, fast and well spread; plenty for a simulation (never for secrets). */
export const seededRandom = (seed: number): Random => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

/**
 * The seed of the `index`-th vehicle's own stream: each vehicle draws from its own, so adding
 * vehicles or changing one's timing never changes another's route.
 */
export const streamSeed = (seed: number, index: number) => {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
};

export const between = (random: Random, min: number, max: number) => min + random() * (max - min);
export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

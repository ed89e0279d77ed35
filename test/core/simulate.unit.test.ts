import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { planFleet } from '../../core/simulate/fleet.js';
import { distanceM } from '../../core/simulate/geometry.js';
import { simulateOptions } from '../../core/simulate/options.js';
import { seededRandom } from '../../core/simulate/random.js';
import { DEFAULT_CITY } from '../../core/simulate/routes.js';
import { advance, fixOf, positionOf, startMotion } from '../../core/simulate/vehicle.js';

const mix = ['mqtt', 'ws', 'osmand'] as const;

describe('simulated fleet', () => {
  it('gives the same vehicles on the same routes for the same seed, other routes for another', () => {
    const a = planFleet({ seed: 42, devices: 12, mix: [...mix], prefix: 'sim' });
    const b = planFleet({ seed: 42, devices: 12, mix: [...mix], prefix: 'sim' });
    const c = planFleet({ seed: 43, devices: 12, mix: [...mix], prefix: 'sim' });
    expect(b).toEqual(a);
    expect(c.map((v) => v.route)).not.toEqual(a.map((v) => v.route));
    // A vehicle's route is its own: a larger fleet keeps the first twelve as they were.
    expect(planFleet({ seed: 42, devices: 20, mix: [...mix], prefix: 'sim' }).slice(0, 12)).toEqual(a);
    expect(a.map((v) => v.member.protocol)).toEqual(Array.from({ length: 12 }, (_, i) => mix[i % 3]));
    expect(new Set(a.map((v) => v.member.deviceId)).size).toBe(12);
  });

  it('keeps routes in the city, on legs of whole blocks', () => {
    for (const v of planFleet({ seed: 7, devices: 60, mix: ['mqtt'], prefix: 'sim' })) {
      expect(v.route.waypoints.length).toBeGreaterThanOrEqual(13);
      for (const w of v.route.waypoints) expect(distanceM(DEFAULT_CITY.center, w)).toBeLessThan(DEFAULT_CITY.radiusM * 1.2);
      for (let i = 1; i < v.route.waypoints.length; i++) {
        const leg = distanceM(v.route.waypoints[i - 1] as never, v.route.waypoints[i] as never) / DEFAULT_CITY.blockM;
        expect(Math.abs(leg - Math.round(leg))).toBeLessThan(0.02);
        expect(Math.round(leg)).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('drives at plausible speeds, stops now and then, and drains its battery', () => {
    const [v] = planFleet({ seed: 3, devices: 1, mix: ['mqtt'], prefix: 'sim' });
    if (!v) throw new Error('no vehicle');
    const random = seededRandom(1);
    const m = startMotion(random);
    const battery0 = m.battery;
    let at = positionOf(v.route, m);
    let stopped = 0;
    let maxKmh = 0;
    let metres = 0;
    for (let s = 0; s < 600; s++) {
      advance(v.route, m, 1, random);
      const now = positionOf(v.route, m);
      metres += distanceM(at, now);
      at = now;
      if (m.speedKmh === 0) stopped++;
      maxKmh = Math.max(maxKmh, m.speedKmh);
      const fix = fixOf(v.route, m, `p${s}`, 1_700_000_000_000 + s * 1000, random);
      expect(fix.heading).toBeGreaterThanOrEqual(0);
      expect(fix.heading).toBeLessThan(360);
      expect(fix.battery).toBeGreaterThanOrEqual(0);
      expect(fix.battery).toBeLessThanOrEqual(100);
    }
    expect(maxKmh).toBeLessThanOrEqual(v.route.cruiseKmh + 0.01);
    expect(maxKmh).toBeGreaterThan(20);
    // Ten minutes: several kilometres, with some of it standing (stops, red lights).
    expect(metres).toBeGreaterThan(2_000);
    expect(stopped).toBeGreaterThan(0);
    expect(stopped).toBeLessThan(400);
    expect(m.battery === 100 || m.battery < battery0).toBe(true);
  });
});

describe('simulate options', () => {
  const config = loadConfig({
    DATA_DIR: '/nonexistent/fg-simulate',
    HTTP_PORT: '8181',
    MQTT_PORT: '11883',
    OSMAND_PORT: '15055',
  });

  it("defaults to the configured gateway's ports and one fix per vehicle per second", () => {
    const o = simulateOptions({ devices: '12' }, config, { FLEETGATE_ADMIN_KEY: 'k' });
    expect(o).toMatchObject({
      devices: 12,
      rate: 12,
      mix: ['mqtt', 'ws', 'osmand'],
      apiUrl: 'http://127.0.0.1:8181',
      mqttUrl: 'mqtt://127.0.0.1:11883',
      osmandUrl: 'http://127.0.0.1:15055/',
      key: 'k',
    });
    expect(simulateOptions({ host: 'gw.example', mix: 'ws' }, config, { ADMIN_API_KEY: 'a' })).toMatchObject({
      apiUrl: 'http://gw.example:8181',
      mix: ['ws'],
      key: 'a',
    });
  });

  it('refuses bad values with the option named, and says where a key comes from', () => {
    const bad = (args: Record<string, string>) => () => simulateOptions(args, config, { FLEETGATE_ADMIN_KEY: 'k' });
    expect(bad({ mix: 'mqtt,smoke' })).toThrow(/--mix "mqtt,smoke"/);
    expect(bad({ devices: '0' })).toThrow(/--devices "0": expected an integer from 1/);
    expect(bad({ rate: 'fast' })).toThrow(/--rate "fast"/);
    expect(bad({ 'offline-share': '1' })).toThrow(/--offline-share/);
    expect(bad({ prefix: 'a b' })).toThrow(/--prefix/);
    expect(() => simulateOptions({}, config, {})).toThrow(/FLEETGATE_ADMIN_KEY.*\/nonexistent\/fg-simulate\/admin-api-key/);
  });
});

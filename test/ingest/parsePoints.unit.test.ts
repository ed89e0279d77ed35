import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { type ParseContext, parsePoints, pointEventId, REFUSAL_REASONS } from '../../ingest/gps/parsePoints.js';
import { GpsReported } from '../../schemas/events/gps.js';

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);
const ctx: ParseContext = { deviceId: 'unit-7', source: 'mqtt', now: NOW, maxFutureMs: 300_000, maxPoints: 5 };
const base = { ts: NOW - 10_000, lat: 55.7558, lon: 37.6173 };
const parse = (payload: unknown, over: Partial<ParseContext> = {}) => parsePoints(payload, { ...ctx, ...over });
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const reasonOf = (point: Record<string, unknown>) => parse(json({ ...base, ...point })).refused[0]?.reason;

describe('parsePoints: accepted points', () => {
  it('turns one object into gps.reported data in the gateway units, valid against the event schema', () => {
    const { accepted, refused } = parse(
      json({ ...base, speed: 61.5, heading: 270, alt: 144, accuracy: 4.5, battery: 87, satellites: 11, id: 'm-1' }),
    );
    expect(refused).toEqual([]);
    expect(accepted).toEqual([
      {
        deviceId: 'unit-7',
        ts: NOW - 10_000,
        lat: 55.7558,
        lon: 37.6173,
        speed: 61.5,
        heading: 270,
        alt: 144,
        accuracy: 4.5,
        battery: 87,
        satellites: 11,
        source: 'mqtt',
        receivedAt: NOW,
        pointId: 'm-1',
      },
    ]);
    expect(Value.Check(GpsReported, accepted[0])).toBe(true);
  });

  it('takes an array (an offline buffer), a parsed value, a string, and the range edges', () => {
    const edges = [
      { ...base, lat: -90, lon: -180, heading: 0, speed: 0, battery: 0, satellites: 0 },
      { ...base, lat: 90, lon: 180, heading: 360, battery: 100, satellites: 255 },
    ];
    expect(parse(json(edges)).accepted).toHaveLength(2);
    expect(parse(edges).accepted).toHaveLength(2);
    expect(parse(JSON.stringify(edges)).accepted).toHaveLength(2);
    expect(parse(json([]))).toEqual({ accepted: [], refused: [] });
  });

  it('reads ISO-8601 times with a zone, epoch ms as a digit string, and rounds fractional ms', () => {
    const times = [
      '2025-06-01T11:59:00Z',
      '2025-06-01T14:59:00.250+03:00',
      '2025-06-01T11:59:00.123456789z',
      '2025-06-01T14:59+0300',
    ];
    const out = parse(json(times.map((ts) => ({ ...base, ts }))));
    expect(out.refused).toEqual([]);
    expect(out.accepted.map((p) => p.ts)).toEqual([NOW - 60_000, NOW - 59_750, NOW - 59_877, NOW - 60_000]);
    expect(parse(json({ ...base, ts: String(NOW - 5) })).accepted[0]?.ts).toBe(NOW - 5);
    expect(parse(json({ ...base, ts: NOW - 5.6 })).accepted[0]?.ts).toBe(NOW - 6);
  });

  it('accepts a time up to maxFutureMs ahead (device clock skew), and treats null optionals as absent', () => {
    expect(parse(json({ ...base, ts: NOW + 300_000 })).accepted).toHaveLength(1);
    const [p] = parse(json({ ...base, speed: null, battery: null, id: null })).accepted;
    expect(p).not.toHaveProperty('speed');
    expect(p).not.toHaveProperty('pointId');
  });

  it('keeps unknown scalar fields as attributes (at most 32), drops objects, long values and never pollutes prototypes', () => {
    const extra: Record<string, unknown> = { ignition: true, odometer: 12_345.6, driver: 'Ivanov', nested: { a: 1 }, list: [1] };
    extra.long = 'x'.repeat(257);
    extra['k'.repeat(65)] = 1;
    const [p] = parse(Buffer.from(JSON.stringify({ ...base, ...extra }).replace('{', '{"__proto__":{"polluted":1},'))).accepted;
    expect(p?.attributes).toEqual({ ignition: true, odometer: 12_345.6, driver: 'Ivanov' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`a${i}`, i]));
    expect(Object.keys(parse(json({ ...base, ...many })).accepted[0]?.attributes ?? {})).toHaveLength(32);
    expect(parse(json(base)).accepted[0]).not.toHaveProperty('attributes');
  });

  it('takes an integer id and keeps it as a string', () => {
    expect(parse(json({ ...base, id: 4711 })).accepted[0]?.pointId).toBe('4711');
  });
});

describe('parsePoints: refusals', () => {
  it('refuses a whole message that is not JSON, or not an object or array', () => {
    expect(parse(Buffer.from('{"lat": 1,'))).toEqual({
      accepted: [],
      refused: [{ index: null, reason: 'malformed_json', detail: expect.any(String) }],
    });
    expect(parse(Buffer.from(''))).toMatchObject({ refused: [{ reason: 'malformed_json' }] });
    expect(parse(Buffer.from([0xff, 0xfe, 0x00]))).toMatchObject({ refused: [{ reason: 'malformed_json' }] });
    expect(parse(Buffer.from('['.repeat(100_000)))).toMatchObject({ refused: [{ reason: 'malformed_json' }] });
    for (const v of ['42', '"str"', 'null', 'true']) {
      expect(parse(Buffer.from(v))).toMatchObject({ accepted: [], refused: [{ index: null, reason: 'not_an_object' }] });
    }
  });

  it('refuses each bad point on its own, with its index and id, and keeps the good ones', () => {
    const out = parse(json([{ ...base, id: 'a' }, 7, { ...base, lat: 'x', id: 'b' }, null, { ...base, id: 'c' }]));
    expect(out.accepted.map((p) => p.pointId)).toEqual(['a', 'c']);
    expect(out.refused).toEqual([
      { index: 1, reason: 'not_an_object', detail: expect.any(String) },
      { index: 2, pointId: 'b', reason: 'invalid_field', detail: 'lat must be a number' },
      { index: 3, reason: 'not_an_object', detail: expect.any(String) },
    ]);
  });

  it('keeps the first maxPoints of an oversized buffer and refuses the rest once', () => {
    const out = parse(json(Array.from({ length: 8 }, (_, i) => ({ ...base, id: `p${i}` }))));
    expect(out.accepted).toHaveLength(5);
    expect(out.refused).toEqual([
      { index: 5, reason: 'too_many_points', detail: expect.stringMatching(/^3 points after the first 5/) },
    ]);
  });

  it.each([
    [{ ts: undefined }, 'missing_field'],
    [{ lat: undefined }, 'missing_field'],
    [{ lon: null }, 'missing_field'],
    [{ ts: 'yesterday' }, 'invalid_time'],
    [{ ts: '2025-06-01' }, 'invalid_time'],
    [{ ts: '2025-06-01T11:59:00' }, 'invalid_time'], // no zone: local time of what?
    [{ ts: '2025-13-45T99:00:00Z' }, 'invalid_time'],
    [{ ts: NOW / 1000 }, 'invalid_time'], // epoch seconds
    [{ ts: -1 }, 'invalid_time'],
    [{ ts: true }, 'invalid_time'],
    [{ ts: NOW + 300_001 }, 'future_time'],
    [{ ts: '2030-01-01T00:00:00Z' }, 'future_time'],
    [{ lat: 90.0001 }, 'lat_out_of_range'],
    [{ lat: -91 }, 'lat_out_of_range'],
    [{ lon: 180.5 }, 'lon_out_of_range'],
    [{ lon: '37.6' }, 'invalid_field'],
    [{ speed: -1 }, 'speed_out_of_range'],
    [{ speed: 1_001 }, 'speed_out_of_range'],
    [{ heading: 361 }, 'heading_out_of_range'],
    [{ heading: -0.5 }, 'heading_out_of_range'],
    [{ alt: 200_000 }, 'alt_out_of_range'],
    [{ accuracy: -3 }, 'accuracy_out_of_range'],
    [{ battery: 101 }, 'battery_out_of_range'],
    [{ battery: -1 }, 'battery_out_of_range'],
    [{ satellites: 3.5 }, 'invalid_field'],
    [{ satellites: 256 }, 'satellites_out_of_range'],
    [{ speed: '60' }, 'invalid_field'],
    [{ id: '' }, 'invalid_field'],
    [{ id: 'x'.repeat(129) }, 'invalid_field'],
    [{ id: { a: 1 } }, 'invalid_field'],
    [{ id: 1.5 }, 'invalid_field'],
  ])('refuses %j as %s', (point, reason) => {
    expect(reasonOf(point)).toBe(reason);
  });

  it('uses only reason codes from the published list', () => {
    const reasons = new Set(
      parse(json([{}, { ...base, lat: 99 }, { ...base, ts: 'x' }]), { maxPoints: 2 }).refused.map((r) => r.reason),
    );
    for (const r of reasons) expect(REFUSAL_REASONS).toContain(r);
  });
});

describe('pointEventId', () => {
  const uuid8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it('is a UUIDv8, the same for a resend of the same device message id, whatever else changed', () => {
    const a = pointEventId('unit-7', { pointId: 'm-1', ts: 1, lat: 2, lon: 3 });
    expect(a).toMatch(uuid8);
    expect(pointEventId('unit-7', { pointId: 'm-1', ts: 9, lat: 8, lon: 7 })).toBe(a);
    expect(pointEventId('unit-8', { pointId: 'm-1', ts: 1, lat: 2, lon: 3 })).not.toBe(a);
    expect(pointEventId('unit-7', { pointId: 'm-2', ts: 1, lat: 2, lon: 3 })).not.toBe(a);
  });

  it('keeps the ids it gave before (a resend after an upgrade must still be a duplicate)', () => {
    expect(pointEventId('unit-7', { pointId: 'm-1', ts: 1, lat: 2, lon: 3 })).toBe('515d0d36-dc01-8696-82af-a77ec12a8879');
    expect(pointEventId('unit-7', { ts: 1, lat: 2, lon: 3 })).toBe('c3f52091-ea9f-8c1c-9b4a-ae329ec25ef6');
    // Ids whose variant digit comes from each of the four possible high nibbles.
    expect(['0', '1', '2', '3', '4'].map((id) => pointEventId('u', { pointId: id, ts: 1, lat: 2, lon: 3 }))).toEqual([
      'a9cb046a-21a4-8548-a8f9-bfcbc60f4a90',
      '65b81deb-b485-8610-8004-0d472382d727',
      '04ccc209-d324-8c9e-acdc-d77ac717c145',
      '3cdeace7-ed0b-8536-8df6-287c973a40f5',
      '5279fbfa-124e-8586-b293-b88f7461a750',
    ]);
  });

  it('falls back to (device, ts, lat, lon) without an id', () => {
    const a = pointEventId('unit-7', { ts: 1, lat: 2, lon: 3 });
    expect(a).toMatch(uuid8);
    expect(pointEventId('unit-7', { ts: 1, lat: 2, lon: 3 })).toBe(a);
    expect(pointEventId('unit-7', { ts: 1, lat: 2, lon: 3.000001 })).not.toBe(a);
    expect(pointEventId('unit-7', { ts: 1, lat: 2, lon: 3, pointId: '1' })).not.toBe(a);
  });

  it('gives a re-parsed resend the same id (ISO and epoch ms of one instant agree)', () => {
    const [iso] = parse(json({ ...base, ts: '2025-06-01T11:59:00Z' })).accepted;
    const [ms] = parse(json({ ...base, ts: NOW - 60_000 })).accepted;
    expect(pointEventId('unit-7', iso as GpsReported)).toBe(pointEventId('unit-7', ms as GpsReported));
  });
});

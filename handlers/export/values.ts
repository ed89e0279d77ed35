import type { ColumnType } from '../../core/exports/types.js';
import { wallClockFormatter } from '../../core/time/wallClock.js';

/** Throws RangeError for a zone Intl does not know: the handler turns it into a clear failure. */
export const checkTimeZone = (timeZone: string) => wallClockFormatter(timeZone);

/** A zone's offset from UTC (ms) at an instant, through Intl (slow: see `offsetAt`). */
const intlOffset = (d: Date, timeZone: string) => {
  const p = { year: '', month: '', day: '', hour: '', minute: '', second: '' };
  for (const x of wallClockFormatter(timeZone).formatToParts(d)) if (x.type in p) p[x.type as keyof typeof p] = x.value;
  const local = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  return local - (d.getTime() - d.getUTCMilliseconds());
};

/**
 * Offsets change only on a quarter hour (every zone's transitions fall on one), so one Intl call
 * per zone and quarter hour serves a million GPS points; the cache is cleared when it grows.
 */
const QUARTER = 900_000;
const offsets = new Map<string, number>();
let lastZone = '';
let lastQuarter = Number.NaN;
let lastOffset = 0;
const offsetAt = (ms: number, timeZone: string) => {
  const q = Math.floor(ms / QUARTER);
  // Rows come sorted or clustered in time: most hit the previous row's quarter.
  if (q === lastQuarter && timeZone === lastZone) return lastOffset;
  const k = `${timeZone}|${q}`;
  let o = offsets.get(k);
  if (o === undefined) {
    if (offsets.size > 100_000) offsets.clear();
    o = intlOffset(new Date(q * QUARTER), timeZone);
    offsets.set(k, o);
  }
  lastZone = timeZone;
  lastQuarter = q;
  lastOffset = o;
  return o;
};

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** Wall-clock time of an instant in a zone (`YYYY-MM-DD hh:mm:ss`), and the zone's offset then (ms). */
export const wallClock = (d: Date, timeZone: string) => {
  const offsetMs = timeZone === 'UTC' ? 0 : offsetAt(d.getTime(), timeZone);
  const l = new Date(d.getTime() + offsetMs);
  const text = `${l.getUTCFullYear()}-${two(l.getUTCMonth() + 1)}-${two(l.getUTCDate())} ${two(l.getUTCHours())}:${two(l.getUTCMinutes())}:${two(l.getUTCSeconds())}`;
  return { text, offsetMs };
};

const offsetText = (ms: number) => {
  const m = Math.round(ms / 60_000);
  const a = Math.abs(m);
  return `${m < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
};

/** ClickHouse answers DateTime64 as `YYYY-MM-DD hh:mm:ss.sss` in UTC; Postgres as a Date. */
const digits = (s: string, from: number, n: number) => {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return Number.NaN;
    v = v * 10 + c;
  }
  return v;
};

/**
 * ClickHouse's text form `YYYY-MM-DD hh:mm:ss[.sss]` (UTC), read digit by digit: a million GPS
 * rows spend most of their formatting time here with Date's string parser or a regex.
 */
const chTimeMs = (s: string): number => {
  if (s.length < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(10) !== 32) return Number.NaN;
  const ms = s.length >= 21 && s.charCodeAt(19) === 46 ? digits(`${s.slice(20, 23)}00`, 0, 3) : 0;
  return Date.UTC(
    digits(s, 0, 4),
    digits(s, 5, 2) - 1,
    digits(s, 8, 2),
    digits(s, 11, 2),
    digits(s, 14, 2),
    digits(s, 17, 2),
    ms,
  );
};

export const asDate = (v: unknown): Date | null => {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  const s = String(v);
  let ms = chTimeMs(s);
  if (Number.isNaN(ms)) ms = new Date(s).getTime();
  return Number.isNaN(ms) ? null : new Date(ms);
};

/** Minor units (bigint arrives as text) to major units. */
export const moneyOf = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v) / 100);

export const numberOf = (v: unknown): number | null => {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};

/** A value as text for CSV and PDF: dates in the zone's wall-clock time, money with two decimals. */
export const textOf = (type: ColumnType, v: unknown, timeZone: string): string => {
  if (v === null || v === undefined) return '';
  switch (type) {
    case 'datetime': {
      const d = asDate(v);
      return d ? wallClock(d, timeZone).text : '';
    }
    case 'money': {
      const m = moneyOf(v);
      return m === null ? '' : m.toFixed(2);
    }
    case 'bool':
      return v ? 'true' : 'false';
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
};

/** A value for JSON: dates as ISO 8601 with the zone's offset (unambiguous across a DST change). */
export const jsonOf = (type: ColumnType, v: unknown, timeZone: string): unknown => {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'datetime': {
      const d = asDate(v);
      if (!d) return null;
      const w = wallClock(d, timeZone);
      const ms = d.getUTCMilliseconds();
      return `${w.text.replace(' ', 'T')}${ms ? `.${String(ms).padStart(3, '0')}` : ''}${offsetText(w.offsetMs)}`;
    }
    case 'money':
      return moneyOf(v);
    case 'int':
    case 'number':
      return numberOf(v);
    case 'bool':
      return Boolean(v);
    default:
      return typeof v === 'object' ? v : String(v);
  }
};

import { wallClockFormatter } from '../time/wallClock.js';

/**
 * 1C keeps dates without a zone (`2024-01-15T10:00:00`): wall-clock time of the infobase's zone.
 * These convert between that and an instant, through Intl (no tz library in the dependencies).
 */
const wallParts = (ms: number, timeZone: string) => {
  const p: Record<string, number> = {};
  for (const part of wallClockFormatter(timeZone).formatToParts(new Date(ms))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return p as { year: number; month: number; day: number; hour: number; minute: number; second: number };
};

/** The zone's offset from UTC at instant `ms`, in ms (Moscow: +3 h). */
const offsetAt = (ms: number, timeZone: string) => {
  const w = wallParts(ms, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
};

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** An instant as 1C's zone-less wall time in `timeZone`. */
export const toWallTime = (iso: string, timeZone: string): string => {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`not a date-time: ${iso}`);
  const w = wallParts(ms, timeZone);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
};

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/;

/** 1C's zone-less wall time in `timeZone` as ISO-8601 with the zone's offset at that time. */
export const fromWallTime = (wall: string, timeZone: string): string => {
  const m = WALL.exec(wall);
  if (!m) throw new RangeError(`not a 1C date: ${wall}`);
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  // Twice: the offset at the guess may differ from the one at the answer across a DST change.
  let offset = offsetAt(guess - offsetAt(guess, timeZone), timeZone);
  offset = offsetAt(guess - offset, timeZone);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset) / 60_000;
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${pad(s)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
};

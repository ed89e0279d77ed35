import type { ImportProgress } from './importRecords.js';

const n = (x: number) => x.toLocaleString('en-US');

/**
 * One progress line for stderr: records so far, records/s since the start of this run, and the
 * ETA from the bytes still to read at the current byte rate (records vary in size; bytes do not lie).
 */
export const progressLine = (p: ImportProgress, startedAt: number, now = Date.now()): string => {
  const secs = Math.max(0.001, (now - startedAt) / 1000);
  const rate = (p.appended - p.resumedAt) / secs;
  const byteRate = (p.bytesRead - p.resumedAtByte) / secs;
  const pct = p.size > 0 ? Math.min(100, (p.bytesRead / p.size) * 100) : 100;
  const eta = byteRate > 0 ? Math.max(0, (p.size - p.bytesRead) / byteRate) : Number.NaN;
  const etaText = Number.isFinite(eta) ? `${Math.ceil(eta)} s` : '?';
  return `${n(p.appended)} records (${n(p.refused)} refused), ${n(Math.round(rate))} records/s, ${pct.toFixed(1)}%, ETA ${etaText}`;
};

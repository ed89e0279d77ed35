/**
 * Latency histograms the load processes record and the bench merges: each process sends its
 * HdrHistogram compressed (base64), so percentiles over several load processes are exact to the
 * histogram's precision instead of an average of percentiles.
 */
import * as hdr from 'hdr-histogram-js';

/** Microseconds, 1 µs to 120 s, 3 significant digits. */
export const latencyHistogram = () =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

export type LatencyHistogram = ReturnType<typeof latencyHistogram>;

export interface LatencyStats {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Records a latency given in ms (clamped to the histogram's range). */
export const recordMs = (h: LatencyHistogram, ms: number) =>
  h.recordValue(Math.min(120_000_000, Math.max(1, Math.round(ms * 1000))));

export const encodeLatency = (h: LatencyHistogram) => hdr.encodeIntoCompressedBase64(h);

/** One histogram holding every encoded one (from several load processes). */
export const mergeLatency = (encoded: (string | undefined)[]) => {
  const out = latencyHistogram();
  for (const e of encoded) if (e) out.add(hdr.decodeFromCompressedBase64(e));
  return out;
};

/** Percentiles in ms. */
export const latencyStats = (h: LatencyHistogram): LatencyStats => {
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const ms = (us: number) => us / 1000;
  return {
    count: h.totalCount,
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
};

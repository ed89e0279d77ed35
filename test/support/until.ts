/** A value other than `false`, `0`, `''`, `null` and `undefined`: what ends a wait. */
export type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export interface UntilOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Pause between two probes (default 25 ms). */
  intervalMs?: number;
  /** Names the awaited thing in the failure; a function is read at failure time, so it can show state. */
  what?: string | (() => string);
}

const shown = (v: unknown) => {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/**
 * Polls `probe` until it returns a truthy value and returns that value. An error thrown by the probe
 * ends the wait at once (a probe may throw on purpose, e.g. when the process it waits for exited).
 * On time-out the error names `what` and the probe's last value.
 */
export const until = async <T>(probe: () => T | Promise<T>, opts: UntilOptions = {}): Promise<Truthy<T>> => {
  const { timeoutMs = 15_000, intervalMs = 25, what = 'condition' } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await probe();
    if (last) return last as Truthy<T>;
    if (Date.now() > deadline) {
      const name = typeof what === 'function' ? what() : what;
      throw new Error(`${name}: not within ${timeoutMs} ms (last: ${shown(last)})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
};

/**
 * A probe that runs at most once per `maxAgeMs`: callers within that time get the last answer,
 * callers while it runs share the run. `/readyz` asks every store; without this each request
 * (from anyone who can reach the port) would (issue 23).
 */
export const cachedProbe = <T>(probe: () => Promise<T>, maxAgeMs: number, now: () => number = Date.now) => {
  let last: { at: number; value: Promise<T> } | undefined;
  return (): Promise<T> => {
    if (last && now() - last.at < maxAgeMs) return last.value;
    const value = probe();
    const entry = { at: now(), value };
    last = entry;
    // A failed run is not kept: the next caller probes again.
    value.catch(() => {
      if (last === entry) last = undefined;
    });
    return value;
  };
};

/**
 * A bounded, expiring cache for credential lookups (API keys, device tokens). Found rows and
 * misses are kept apart, each least-recently-used first out: a flood of made-up keys from
 * unauthenticated clients evicts only other misses, never the rows real clients hit, and no limit
 * ever empties the whole cache. Misses expire sooner (`missTtlMs`), so a key created in another
 * process works within that.
 */
export interface LookupCache<V> {
  /** `{ value }` when cached and fresh (value undefined: a cached miss), else undefined. */
  get(key: string): { value: V | undefined } | undefined;
  set(key: string, value: V | undefined): void;
  delete(key: string): void;
  clear(): void;
}

export const lookupCache = <V>(opts: {
  ttlMs: number;
  missTtlMs: number;
  maxEntries: number;
  maxMisses: number;
  now?: () => number;
}): LookupCache<V> => {
  const now = opts.now ?? Date.now;
  const hits = new Map<string, { value: V; until: number }>();
  const misses = new Map<string, number>();
  const put = <T>(map: Map<string, T>, max: number, key: string, entry: T) => {
    map.delete(key);
    map.set(key, entry);
    // Map keeps insertion order: the first key is the least recently used.
    if (map.size > max) map.delete(map.keys().next().value as string);
  };
  return {
    get(key) {
      const hit = hits.get(key);
      if (hit && hit.until > now()) {
        put(hits, opts.maxEntries, key, hit);
        return { value: hit.value };
      }
      if (hit) hits.delete(key);
      const missUntil = misses.get(key);
      if (missUntil !== undefined && missUntil > now()) return { value: undefined };
      if (missUntil !== undefined) misses.delete(key);
      return undefined;
    },
    set(key, value) {
      if (value === undefined) {
        hits.delete(key);
        put(misses, opts.maxMisses, key, now() + opts.missTtlMs);
      } else {
        misses.delete(key);
        put(hits, opts.maxEntries, key, { value, until: now() + opts.ttlMs });
      }
    },
    delete(key) {
      hits.delete(key);
      misses.delete(key);
    },
    clear() {
      hits.clear();
      misses.clear();
    },
  };
};

/**
 * glibc malloc settings the gateway runs with (`npm start` sets them; glibc reads them when the
 * process starts, so they cannot be set from inside it). With its defaults glibc raises the mmap
 * threshold after large blocks are freed, so later large short-lived blocks (socket reads, the
 * ClickHouse engine's insert batches) come from the main heap, which fragments and is not handed
 * back. A fixed threshold keeps big blocks in mmap (returned on free) and a trim threshold
 * returns the heap's free top. 10,000 idle MQTT devices after the load phases of
 * `npm run bench -- gps --only=jetstream` (A/B in one session, throughput unchanged): 817 → 633 MiB
 * RSS right after they connected, 652 → 508 MiB 30 s later.
 */
export const GLIBC_MALLOC_ENV = {
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '1048576',
} as const;

/** What the process was started with: the tuned values, other values, or glibc's defaults. */
export const mallocTuning = (env: NodeJS.ProcessEnv = process.env) =>
  Object.fromEntries(Object.keys(GLIBC_MALLOC_ENV).map((k) => [k, env[k] ?? 'glibc default']));

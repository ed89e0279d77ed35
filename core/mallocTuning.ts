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

/**
 * V8 heap flags `npm start` runs the gateway with unless `FLEETGATE_V8_FLAGS` names others (on the
 * command line: NODE_OPTIONS refuses `--heap-growing-percent`). They apply to every isolate of the
 * process, the PGlite worker's too. A young generation of 2 MiB semi-spaces instead of up to 16
 * commits less and costs no measurable CPU (`npm run bench -- gps --only=embedded`, back to back,
 * QoS 1 maximum: 61–87 µs per durable point with V8's defaults, 81 with it).
 */
export const V8_MEMORY_FLAGS = ['--max-semi-space-size=2'] as const;

/**
 * The low-memory choice (`FLEETGATE_V8_FLAGS`): with V8's defaults a connect storm's short-lived
 * objects are promoted and stay as garbage, since the old generation may grow to up to 4× what
 * survived the last full GC before the next one and an idle process does not run it. Growing it
 * by 20 % instead: 10,000 idle MQTT devices 597 MiB RSS settled instead of about 680 (README). The
 * price is CPU under load (more full GCs while batches of points are promoted): QoS 1 maximum
 * 121–158 µs per durable point against 61–87, and a third less throughput. `--optimize-for-size`
 * shrank the heap as well (588 MiB) but doubled the CPU per point.
 */
export const V8_LOW_MEMORY_FLAGS = [...V8_MEMORY_FLAGS, '--heap-growing-percent=20'] as const;

/** The V8 flags among the process's own (`process.execArgv`) that shape its heap. */
export const v8MemoryFlags = (execArgv: readonly string[] = process.execArgv) =>
  execArgv.filter((a) => /^--(max-semi-space-size|heap-growing-percent|max-old-space-size|optimize-for-size)\b/.test(a));

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
 * V8 heap flags `npm start` runs the gateway with (on the command line: NODE_OPTIONS refuses
 * `--heap-growing-percent`). They apply to every isolate of the process, the PGlite worker's too.
 * With V8's defaults a connect storm's short-lived objects are promoted and stay as garbage: the
 * old generation may grow to up to 4× what survived the last full GC before the next one, and an
 * idle process does not run it. 10,000 idle MQTT devices (`npm run bench -- idle-memory`, back to
 * back): 758 MiB RSS settled with the defaults (V8 heap 162 MiB used, 285 committed), 622 MiB
 * with these (137 used, 151 committed). A young generation of 2 MiB semi-spaces instead of up to
 * 16 commits less and scavenges more often; the old generation grows by 20 % between full GCs.
 * The price is CPU under load, mostly the growth limit's (more full GCs while batches of points
 * are promoted): `npm run bench -- gps --only=embedded`, QoS 1 maximum 9,400–11,300 points/s at
 * 94–97 µs per durable point with V8's defaults, 6,200–6,500 at 146–150 µs with these (README);
 * `node dist/core/cli.js start` without them is the throughput-lean choice. `--optimize-for-size` shrank the heap as well (588 MiB) but doubled the CPU per point.
 */
export const V8_MEMORY_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=20'] as const;

/** The V8 flags among the process's own (`process.execArgv`) that shape its heap. */
export const v8MemoryFlags = (execArgv: readonly string[] = process.execArgv) =>
  execArgv.filter((a) => /^--(max-semi-space-size|heap-growing-percent|max-old-space-size|optimize-for-size)\b/.test(a));

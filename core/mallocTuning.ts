/**
 * glibc malloc settings the gateway runs with (`npm start` sets them; glibc reads them when the
 * process starts, so they cannot be set from inside it). With its defaults glibc raises the mmap
 * threshold after large blocks are freed, so the many short-lived 64 KiB socket read buffers and
 * the ClickHouse engine's batches come from the main heap, which fragments and is never handed
 * back: after a load burst, 10,000 idle MQTT devices held 773–898 MiB. A fixed threshold keeps
 * big blocks in mmap (returned on free) and a trim threshold returns the heap's free top:
 * 641–663 MiB in the same bench, throughput unchanged (`npm run bench -- gps --only=jetstream`).
 */
export const GLIBC_MALLOC_ENV = {
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '1048576',
} as const;

/** What the process was started with: the tuned values, other values, or glibc's defaults. */
export const mallocTuning = (env: NodeJS.ProcessEnv = process.env) =>
  Object.fromEntries(Object.keys(GLIBC_MALLOC_ENV).map((k) => [k, env[k] ?? 'glibc default']));

import type { Registry } from 'prom-client';

/** What the main thread tells the ingest worker. */
export type ToIngestWorker = { type: 'metrics'; id: number } | { type: 'stop' };

/** What the ingest worker tells the main thread. */
export type FromIngestWorker =
  /** `tid`: the thread's id in the OS (Linux), for per-thread CPU figures and scheduling. */
  | { type: 'ready'; mqttPort: number | undefined; osmandPort: number | undefined; tid: number | undefined }
  /** Start-up failed; `code` is the GatewayError code when it was one (a port in use, bad config). */
  | { type: 'failed'; message: string; code: string | undefined }
  | { type: 'metrics'; id: number; metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>> }
  | { type: 'stopped' };

import { Counter, Gauge } from 'prom-client';
import { registry } from '../../core/metrics.js';

/** One per mounted live feed (tests mount several in a process). */
export const bufferedSources = new Set<() => number>();

export const liveMetrics = {
  subscribers: new Gauge({
    name: 'fleetgate_live_subscribers',
    help: 'Live-feed WebSocket subscribers connected',
    registers: [registry],
  }),
  /** Read on scrape from uWS's own accounting: what the server holds for subscribers that read slowly. */
  bufferedBytes: new Gauge({
    name: 'fleetgate_live_buffered_bytes',
    help: 'Bytes queued by the server for live-feed subscribers, not yet written to their sockets',
    registers: [registry],
    collect() {
      let sum = 0;
      for (const read of bufferedSources) sum += read();
      this.set(sum);
    },
  }),
  following: new Gauge({
    name: 'fleetgate_live_following',
    help: 'Live feeds following the GPS stream (only while a subscriber is connected, and a while after)',
    registers: [registry],
  }),
  snapshotPositions: new Counter({
    name: 'fleetgate_live_snapshot_positions_total',
    help: 'Last known positions sent to live-feed subscribers when they subscribed (from vehicle_positions)',
    registers: [registry],
  }),
  dropped: new Counter({
    name: 'fleetgate_live_dropped_total',
    help: 'Live-feed subscribers closed because they stopped reading (buffered bytes over WS_MAX_BUFFERED_BYTES)',
    registers: [registry],
  }),
};

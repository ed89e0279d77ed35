import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** One registry per process, served at `/metrics`. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'fleetgate_' });

export const metrics = {
  appends: new Counter({
    name: 'fleetgate_eventlog_appends_total',
    help: 'Log messages appended, by stream and result (stored, duplicate, conflict, error)',
    labelNames: ['stream', 'result'] as const,
    registers: [registry],
  }),
  projectionEvents: new Counter({
    name: 'fleetgate_projection_events_total',
    help: 'Events folded into a read model',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
  projectionErrors: new Counter({
    name: 'fleetgate_projection_errors_total',
    help: 'Projection batches that failed and will be retried',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
  projectionPosition: new Gauge({
    name: 'fleetgate_projection_checkpoint',
    help: 'Last log sequence folded into the read model',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
  projectionActive: new Gauge({
    name: 'fleetgate_projection_active',
    help: '1 while this process holds the projection lease and folds it; 0 while another process does',
    labelNames: ['projection'] as const,
    registers: [registry],
  }),
  deadLetterActions: new Counter({
    name: 'fleetgate_dead_letter_actions_total',
    help: 'Operator actions on dead letters (retried, already_accepted, dropped, not_found), by consumer',
    labelNames: ['action', 'consumer'] as const,
    registers: [registry],
  }),
  handled: new Counter({
    name: 'fleetgate_handler_events_total',
    help: 'Command messages handled, by outcome (ok, retry, dead_letter, split: commands split out of a coalesced message)',
    labelNames: ['handler', 'priority', 'outcome'] as const,
    registers: [registry],
  }),
  telegramUpdates: new Counter({
    name: 'fleetgate_telegram_bot_updates_total',
    help: 'Telegram updates reaching the bot, by outcome (applied, duplicate, offline: too old, ignored: not an update)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  }),
  telegramLinkRefusals: new Counter({
    name: 'fleetgate_telegram_link_refusals_total',
    help: '/start CODE refused, by reason (wrong, used, expired, locked: too many attempts)',
    labelNames: ['reason'] as const,
    registers: [registry],
  }),
  handlerSeconds: new Histogram({
    name: 'fleetgate_handler_duration_seconds',
    help: 'Time a handler spent on one event',
    labelNames: ['handler'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  }),
  consumerStalled: new Gauge({
    name: 'fleetgate_consumer_stalled',
    help: '1 while a durable consumer holds max_ack_pending unacknowledged deliveries, has more waiting and none settles (delivery paused); else 0',
    labelNames: ['consumer'] as const,
    registers: [registry],
  }),
  streamBytes: new Gauge({
    name: 'fleetgate_eventlog_stream_bytes',
    help: 'Bytes stored in the stream (embedded log: its whole table)',
    labelNames: ['stream'] as const,
    registers: [registry],
  }),
  streamMaxBytes: new Gauge({
    name: 'fleetgate_eventlog_stream_max_bytes',
    help: 'The stream size bound, EVENTS_MAX_BYTES (0 = none)',
    labelNames: ['stream'] as const,
    registers: [registry],
  }),
  httpRefusals: new Counter({
    name: 'fleetgate_http_refusals_total',
    help: 'HTTP requests answered with a problem document, by route and error code',
    labelNames: ['route', 'code'] as const,
    registers: [registry],
  }),
  httpRequests: new Histogram({
    name: 'fleetgate_http_request_duration_seconds',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  }),
};

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

interface MetricsSource {
  read(): Promise<MetricsJson>;
  /** Families only that thread writes: this thread's (never-touched) copies of them are left out. */
  owns: RegExp | undefined;
}

/** Metrics kept elsewhere in this process (the ingest worker's registry), read at each scrape. */
const otherThreads = new Set<MetricsSource>();

/** Adds a source to `/metrics`; the returned function removes it. Its series must carry a label of their own (`thread`). */
export const addMetricsSource = (read: () => Promise<MetricsJson>, opts: { owns?: RegExp } = {}) => {
  const source = { read, owns: opts.owns };
  otherThreads.add(source);
  return () => otherThreads.delete(source);
};

/** The text `/metrics` serves: this thread's registry plus every other thread's, merged into one family per name. */
export const scrapeMetrics = async (): Promise<string> => {
  if (otherThreads.size === 0) return registry.metrics();
  const sources = [...otherThreads];
  const owned = (name: string) => sources.some((s) => s.owns?.test(name));
  const [own, ...others] = await Promise.all([
    registry.getMetricsAsJSON(),
    // A thread busy shutting down must not fail the scrape: its series are left out this once.
    ...sources.map((s) => s.read().catch(() => [])),
  ]);
  return AggregatorRegistry.aggregate([own.filter((family) => !owned(family.name)), ...others]).metrics();
};

import { DiscardPolicy, JetStreamApiCodes, type JetStreamManager, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { JetStreamConfig } from '../jetstream.js';
import type { StreamName } from '../port.js';
import { isApiError } from './errors.js';

export const STREAM_SUBJECTS: Record<StreamName, string> = { EVENTS: 'evt.>', GPS: 'gps.>', DLQ: 'dlq.>' };

const ensureStream = async (
  jsm: JetStreamManager,
  replicas: number,
  name: StreamName,
  maxAgeMs: number,
  duplicateWindowMs: number,
  maxBytes = 0,
) => {
  // The server refuses a duplicate window longer than a (non-zero) max age.
  const window = maxAgeMs > 0 ? Math.min(duplicateWindowMs, maxAgeMs) : duplicateWindowMs;
  const owned = {
    subjects: [STREAM_SUBJECTS[name]],
    num_replicas: replicas,
    max_age: nanos(maxAgeMs),
    duplicate_window: nanos(window),
    max_bytes: maxBytes > 0 ? maxBytes : -1,
    // A full EVENTS stream refuses appends (the caller sees 503) rather than dropping the oldest facts.
    ...(maxBytes > 0 && { discard: DiscardPolicy.New }),
  };
  try {
    await jsm.streams.info(name);
  } catch (e) {
    if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
    await jsm.streams.add({ name, storage: StorageType.File, ...owned });
    return;
  }
  await jsm.streams.update(name, owned);
};

/** Creates the three streams, or brings the settings we own up to date on existing ones. */
export const ensureStreams = async (jsm: JetStreamManager, cfg: JetStreamConfig) => {
  await ensureStream(jsm, cfg.replicas, 'EVENTS', cfg.eventsMaxAgeMs, cfg.duplicateWindowMs, cfg.eventsMaxBytes);
  await ensureStream(jsm, cfg.replicas, 'GPS', cfg.gpsMaxAgeMs, cfg.gpsDuplicateWindowMs);
  await ensureStream(jsm, cfg.replicas, 'DLQ', cfg.dlqMaxAgeMs, cfg.duplicateWindowMs);
};

import { AckPolicy, DeliverPolicy, JetStreamApiCodes, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { ConsumerConfig } from '../port.js';
import { guarded, isApiError } from './errors.js';
import { STREAM_SUBJECTS } from './streams.js';

/** Creates the durable pull consumer, or updates the settings we own when they changed. */
export const ensureDurable = async (jsm: JetStreamManager, config: ConsumerConfig) => {
  const { stream, name } = config;
  // Always a filter (the stream's own subjects by default), so an update can also widen it.
  const settings = {
    filter_subject: config.filterSubject ?? STREAM_SUBJECTS[stream],
    ack_wait: nanos(config.ackWaitMs),
    // One delivery more than the caller allows: the extra one shows us that ack wait expired on
    // the last allowed delivery, so we can dead-letter it (the server would only drop it).
    max_deliver: config.maxDeliver + 1,
    ...(config.maxAckPending !== undefined && { max_ack_pending: config.maxAckPending }),
  };

  await guarded(`consumer ${stream}/${name}`, async () => {
    const existing = await jsm.consumers.info(stream, name).catch((e: unknown) => {
      if (isApiError(e, JetStreamApiCodes.ConsumerNotFound)) return null;
      throw e;
    });
    if (!existing) {
      await jsm.consumers.add(stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        ...(config.startSeq !== undefined
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: config.startSeq }
          : { deliver_policy: DeliverPolicy.All }),
        ...settings,
      });
    } else if (
      existing.config.filter_subject !== settings.filter_subject ||
      existing.config.ack_wait !== settings.ack_wait ||
      existing.config.max_deliver !== settings.max_deliver ||
      (settings.max_ack_pending !== undefined && existing.config.max_ack_pending !== settings.max_ack_pending)
    ) {
      await jsm.consumers.update(stream, name, settings);
    }
  });
};

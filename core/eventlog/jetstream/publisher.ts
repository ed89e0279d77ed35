import { JetStreamApiCodes, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { VersionConflictError } from '../../../schemas/errors.js';
import { streamOfSubject } from '../../../schemas/events/envelope.js';
import type { AppendAck } from '../port.js';
import { validateSubject } from '../subjects.js';
import { isApiError, unavailable } from './errors.js';

export type Publish = (
  subject: string,
  payload: Uint8Array | string,
  msgID: string,
  headers: Record<string, string> | undefined,
  expectedLastSubjectSeq: number | undefined,
) => Promise<AppendAck>;

/**
 * Publishes one log message and waits for the stream's ack. The message id goes in
 * `Nats-Msg-Id` (dedupe), the expected sequence in `Nats-Expected-Last-Subject-Sequence`.
 */
export const publisher =
  (js: JetStreamClient, timeout: number): Publish =>
  async (subject, payload, msgID, headers, expectedLastSubjectSeq) => {
    validateSubject(subject);
    const stream = streamOfSubject(subject);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers ?? {})) h.set(k, v);
    try {
      const ack = await js.publish(subject, payload, {
        msgID,
        headers: h,
        timeout,
        ...(expectedLastSubjectSeq !== undefined && { expect: { lastSubjectSequence: expectedLastSubjectSeq } }),
      });
      return { stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamWrongLastSequence)) {
        throw new VersionConflictError(subject, expectedLastSubjectSeq ?? 0, undefined, { cause: e });
      }
      // A timeout does not mean "not stored": the message may have landed. Retrying with the same
      // msgId is safe within the duplicate window – the stream answers with the original sequence.
      throw unavailable(`append to ${subject}`, e);
    }
  };

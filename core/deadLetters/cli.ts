import type { DeadLetter, DeadLetterOps } from './deadLetters.js';

export interface DlqCliOptions {
  consumer?: string | undefined;
  from?: string | undefined;
  limit?: string | undefined;
  all?: boolean | undefined;
}

export const DLQ_USAGE = `fleetgate dlq list [--consumer NAME] [--from TIME] [--limit N]
  fleetgate dlq show ID
  fleetgate dlq retry ID... | --all [--consumer NAME]   hand each command back to its handler once
  fleetgate dlq drop ID... | --all [--consumer NAME]    remove dead letters without retrying`;

/** A usage error: the entry prints it and exits 2. */
export class DlqUsageError extends Error {}

const EPOCH_MS = /^\d{1,15}$/;
const parseTime = (v: string) => {
  const ms = EPOCH_MS.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms)) throw new DlqUsageError(`--from must be epoch milliseconds or an ISO-8601 time, not "${v}"`);
  return ms;
};
const parseSeq = (v: string) => {
  if (!/^\d{1,15}$/.test(v) || Number(v) < 1) throw new DlqUsageError(`a dead letter id is its DLQ sequence number, not "${v}"`);
  return Number(v);
};

const line = (d: DeadLetter) =>
  [
    d.seq,
    d.consumer,
    new Date(d.deadLetteredAt).toISOString(),
    `deliveries=${d.deliveries}`,
    d.subject,
    d.events.map((e) => `${e.type}:${e.id}`).join(','),
    d.reason,
  ].join('\t');

/**
 * `fleetgate dlq list|show|retry|drop` on the operations of `deadLetters.ts`; `write` prints a
 * line. Returns the exit code (1 when an id named was not found).
 */
export const dlqCli = async (
  ops: DeadLetterOps,
  args: readonly string[],
  opts: DlqCliOptions,
  write: (text: string) => void,
): Promise<number> => {
  const [sub, ...ids] = args;
  const filter = { consumer: opts.consumer, from: opts.from === undefined ? undefined : parseTime(opts.from) };
  const targets = async () => {
    if (opts.all) return (await ops.list({ ...filter, limit: Number.MAX_SAFE_INTEGER })).map((d) => d.seq);
    if (ids.length === 0) throw new DlqUsageError(`dlq ${sub} needs dead letter ids (see dlq list) or --all`);
    return ids.map(parseSeq);
  };
  let code = 0;
  switch (sub) {
    case 'list': {
      const limit = opts.limit === undefined ? 1_000 : Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new DlqUsageError('--limit must be a positive integer');
      for (const d of await ops.list({ ...filter, limit })) write(line(d));
      return 0;
    }
    case 'show': {
      const d = await ops.get(parseSeq(ids[0] ?? ''));
      if (!d) {
        write(`no dead letter ${ids[0]}`);
        return 1;
      }
      write(JSON.stringify({ ...d, deadLetteredAt: new Date(d.deadLetteredAt).toISOString() }, null, 2));
      return 0;
    }
    case 'retry':
      for (const seq of await targets()) {
        const r = await ops.retry(seq, 'cli');
        if (!r) {
          write(`${seq}\tnot found`);
          code = 1;
          continue;
        }
        const retried = r.retried.map((x) => `${x.commandId} (retry ${x.retryEventId})`).join(', ');
        const done = r.alreadyAccepted.length ? `\talready accepted: ${r.alreadyAccepted.join(', ')}` : '';
        write(`${seq}\t${r.outcome}${retried ? `\t${retried}` : ''}${done}`);
      }
      return code;
    case 'drop':
      for (const seq of await targets()) {
        const gone = await ops.drop(seq);
        write(`${seq}\t${gone ? 'dropped' : 'not found'}`);
        if (!gone) code = 1;
      }
      return code;
    default:
      throw new DlqUsageError(`dlq needs list, show, retry or drop\n\n${DLQ_USAGE}`);
  }
};

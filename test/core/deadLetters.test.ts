import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCommand } from '../../api/commands.js';
import { deadLetterRoutes } from '../../api/routes/deadLetters.js';
import { loadConfig } from '../../core/config.js';
import { dlqCli } from '../../core/deadLetters/cli.js';
import { deadLetterOps } from '../../core/deadLetters/deadLetters.js';
import { deadLetterHeaders } from '../../core/eventlog/deadLetter.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { silentLogger } from '../../core/logger.js';
import { metrics } from '../../core/metrics.js';
import { type EmailLogRow, findEmailLog } from '../../core/readModels/emailLog.js';
import { type HandlerRunner, handlerRunner } from '../../core/runners/handlerRunner.js';
import { buildEmailHandler } from '../../handlers/email/index.js';
import { COMMAND_RETRIED } from '../../schemas/events/command.js';
import { EMAIL_REQUESTED, type EmailRequested } from '../../schemas/events/email.js';
import { type FakeSmtp, startFakeSmtp } from '../fakes/smtp.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

const USER = 'crm@fleet.example';
const PASSWORD = 's3cret-smtp-password';
const CONSUMER = 'email-normal';

let store: Awaited<ReturnType<typeof freshPglite>>;
let api: ApiHarness;
let fake: FakeSmtp;
let admin: string;

/** A port nothing listens on: the SMTP server is down. */
const closedPort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const startEmailHandler = async (port: number): Promise<HandlerRunner> => {
  const config = loadConfig({
    DATA_DIR: '/nonexistent',
    MAIL_HOST: '127.0.0.1',
    MAIL_PORT: String(port),
    MAIL_ENCRYPTION: 'none',
    MAIL_USERNAME: USER,
    MAIL_PASSWORD: PASSWORD,
    MAIL_FROM_ADDRESS: 'noreply@fleet.example',
    MAIL_TIMEOUT_SECONDS: '2',
  });
  const runner = handlerRunner({
    log: api.log,
    handler: buildEmailHandler({ config, logger: silentLogger(), log: api.log, sql: store.sql }),
    logger: silentLogger(),
    concurrency: 2,
    maxAttempts: 3,
    ackWaitMs: 5_000,
    backoffBaseMs: 30,
    backoffMaxMs: 200,
  });
  await runner.start();
  return runner;
};

const request = async (subject: string) => {
  const id = uuidv7();
  const data: EmailRequested = {
    to: 'driver@example.com',
    subject,
    text: 'hello',
    priority: 'normal',
    requestedBy: 'test',
    via: 'v1',
  };
  await appendCommand(api.log, { id, domain: 'email', type: EMAIL_REQUESTED, priority: 'normal', data });
  return id;
};

const row = async (id: string, status: string): Promise<EmailLogRow> => {
  let last: EmailLogRow | undefined;
  return until(
    async () => {
      await api.caughtUp();
      last = await findEmailLog(store.sql, id);
      return last?.status === status && last;
    },
    { timeoutMs: 20_000, what: () => `e-mail ${id} ${status} (is ${last?.status ?? 'missing'})` },
  );
};

const ops = () => deadLetterOps({ log: api.log, sql: store.sql });
const cli = async (...args: string[]) => {
  const out: string[] = [];
  const flags = { all: args.includes('--all'), consumer: args.includes('--all') ? CONSUMER : undefined };
  const code = await dlqCli(
    ops(),
    args.filter((a) => a !== '--all'),
    flags,
    (t) => out.push(t),
  );
  return { code, out };
};
const sentWith = (subject: string) => fake.received.filter((m) => m.parsed.subject === subject);

beforeAll(async () => {
  store = await freshPglite();
  fake = await startFakeSmtp({ user: USER, password: PASSWORD });
  api = await startRoutes(store, (deps) => deadLetterRoutes(deps));
  admin = await api.key(['admin']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await fake?.close();
  await store?.close();
});

describe('an SMTP outage, then dlq retry (issue 22.3)', () => {
  const ids: string[] = [];
  /** `notification_queue` follows too: failed, then (after the retry) sent. */
  const queueStatuses = async () =>
    (await store.sql<{ status: string }[]>`SELECT status FROM notification_queue WHERE id IN ${store.sql(ids)}`).map(
      (r) => r.status,
    );
  const subjects = ['Outage 1', 'Outage 2', 'Outage 3'];

  it('dead-letters each e-mail sent while the SMTP server is down', async () => {
    const down = await startEmailHandler(await closedPort());
    try {
      for (const s of subjects) ids.push(await request(s));
      for (const id of ids) {
        const r = await row(id, 'failed');
        // Connection refused: nodemailer says ESOCKET (ECONNECTION when the greeting never comes); both are retried.
        expect(r.error_code).toMatch(/^E(SOCKET|CONNECTION)$/);
        expect(r.attempts).toBe(3);
      }
    } finally {
      await down.stop();
    }
    const dead = await ops().list({ consumer: CONSUMER, limit: 100 });
    expect(dead.flatMap((d) => d.events.map((e) => e.id)).sort()).toEqual([...ids].sort());
    expect(dead.every((d) => d.subject === 'evt.email.cmd.normal' && d.deliveries === 3)).toBe(true);
    expect(dead[0]?.reason).toMatch(/^gave up after 3 attempts/);
    expect(fake.received).toHaveLength(0);
    expect(await queueStatuses()).toEqual(['failed', 'failed', 'failed']);
  });

  it('lists them through the API (admin only) and the CLI, filtered by consumer and time', async () => {
    const list = async (query: string, key = admin) => {
      const res = await fetch(`${api.url}/api/v1/dead-letters${query}`, { headers: { authorization: `Bearer ${key}` } });
      type Page = { deadLetters: { id: string; events: { id: string }[] }[]; next?: string };
      return { status: res.status, body: (await res.json()) as Page };
    };
    const all = await list(`?consumer=${CONSUMER}`);
    expect(all.status).toBe(200);
    expect(all.body.deadLetters.flatMap((d) => d.events.map((e) => e.id)).sort()).toEqual([...ids].sort());
    expect((await list('?consumer=sms-normal')).body.deadLetters).toEqual([]);
    // Pages: `next` while a page is full, then `after=next` for the rest.
    const first = await list(`?consumer=${CONSUMER}&limit=2`);
    expect(first.body.deadLetters.map((d) => d.id)).toEqual(all.body.deadLetters.slice(0, 2).map((d) => d.id));
    const rest = await list(`?consumer=${CONSUMER}&limit=2&after=${first.body.next}`);
    expect(rest.body.deadLetters.map((d) => d.id)).toEqual(all.body.deadLetters.slice(2).map((d) => d.id));
    expect(rest.body.next).toBeUndefined();
    expect((await list('?limit=0')).status).toBe(400);
    expect((await list(`?from=${Date.now() + 60_000}`)).body.deadLetters).toEqual([]);
    expect((await list('?from=yesterday')).status).toBe(400);
    expect((await list('', await api.key(['email']))).status).toBe(403);
    const { code, out } = await cli('list');
    expect(code).toBe(0);
    expect(out).toHaveLength(3);
    expect(out[0]).toContain(`\t${CONSUMER}\t`);
  });

  it('after the outage, retries each once: sent exactly once, same Message-ID, the retry in its history', async () => {
    const up = await startEmailHandler(fake.port);
    try {
      const [first] = await ops().list({ consumer: CONSUMER, limit: 1 });
      // One through the API, the rest with the CLI.
      const res = await fetch(`${api.url}/api/v1/dead-letters/${first?.seq}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { outcome: string; retried: { commandId: string }[] };
      expect(body.outcome).toBe('retried');
      expect(body.retried.map((r) => r.commandId)).toEqual([first?.events[0]?.id]);
      const { code, out } = await cli('retry', '--all');
      expect(code).toBe(0);
      expect(out).toHaveLength(2);
      expect(out.every((l) => l.includes('\tretried\t'))).toBe(true);

      for (const [i, id] of ids.entries()) {
        const r = await row(id, 'sent');
        expect(r.provider_message_id).toBe(`<${id}@fleet.example>`);
        expect(r.history.map((h) => h.type)).toEqual([
          'email.requested',
          'email.attempt_failed',
          'email.attempt_failed',
          'email.failed',
          COMMAND_RETRIED,
          'email.sent',
        ]);
        expect(r.history[4]?.data).toMatchObject({ deadLetter: { consumer: CONSUMER, deliveries: 3 } });
        expect(sentWith(subjects[i] as string)).toHaveLength(1);
      }
      // Every retry settled (nothing pending or unacknowledged), and the dead letters are gone.
      await until(async () => {
        const infos = await Promise.all(
          ['urgent', 'high', 'normal', 'low'].map(async (p) =>
            (await api.log.consumer({ stream: 'EVENTS', name: `email-${p}`, ackWaitMs: 5_000, maxDeliver: 3 })).info(),
          ),
        );
        return infos.every((i) => i.pending === 0 && i.ackPending === 0);
      });
      expect(await ops().list({ consumer: CONSUMER, limit: 100 })).toEqual([]);
      expect(fake.received).toHaveLength(3);
      await api.caughtUp();
      expect(await queueStatuses()).toEqual(['sent', 'sent', 'sent']);
      const counted = (await metrics.deadLetterActions.get()).values;
      expect(counted.find((v) => v.labels.action === 'retried' && v.labels.consumer === CONSUMER)?.value).toBe(3);
      // The same dead letter cannot be retried twice: it is gone.
      expect((await cli('retry', String(first?.seq))).code).toBe(1);
      const again = await fetch(`${api.url}/api/v1/dead-letters/${first?.seq}/retry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(again.status).toBe(404);
      expect(((await again.json()) as { code: string }).code).toBe('GW_ERR_NOT_FOUND');
    } finally {
      await up.stop();
    }
  });

  it('leaves a command alone whose provider already accepted it; drop removes the dead letter', async () => {
    const id = ids[0] as string;
    const command = (await api.log.read('EVENTS', 10_000, { filterSubject: 'evt.email.cmd.normal' }))
      .flatMap((m) => m.events)
      .find((e) => e.id === id && e.type === EMAIL_REQUESTED);
    // A stale dead letter of a command that was sent after all (e.g. its settle failed after the send).
    const ack = await api.log.append(`dlq.${CONSUMER}`, command as NonNullable<typeof command>, {
      msgId: `stale-${id}`,
      headers: deadLetterHeaders({
        stream: 'EVENTS',
        seq: 1,
        subject: 'evt.email.cmd.normal',
        consumer: CONSUMER,
        deliveries: 1,
        reason: 'ack wait expired',
      }),
    });
    const before = await api.log.lastSeq('EVENTS');
    const r = await ops().retry(ack.seq, 'test');
    expect(r).toMatchObject({ outcome: 'already_accepted', retried: [], alreadyAccepted: [id] });
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
    expect((await ops().get(ack.seq))?.events[0]?.id).toBe(id);
    const shown = await cli('show', String(ack.seq));
    expect(JSON.parse(shown.out[0] as string)).toMatchObject({ seq: ack.seq, consumer: CONSUMER, reason: 'ack wait expired' });
    expect(await cli('drop', String(ack.seq))).toEqual({ code: 0, out: [`${ack.seq}\tdropped`] });
    expect(await ops().get(ack.seq)).toBeUndefined();
    expect(fake.received).toHaveLength(3);
  });

  it('answers a usage error for a bad id, and 404 through the API', async () => {
    await expect(cli('show', 'abc')).rejects.toThrow(/DLQ sequence number/);
    const res = await fetch(`${api.url}/api/v1/dead-letters/abc/retry`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(404);
  });
});

import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/** One message the fake took: the envelope, the raw RFC 5322 bytes and what mailparser read from them. */
export interface ReceivedEmail {
  user: string | undefined;
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  queueId: string;
}

/** Where a scripted failure answers: at the greeting (421 and hang up), MAIL FROM, RCPT TO, or after DATA. */
export type FailureStage = 'connect' | 'mail' | 'rcpt' | 'data';

export interface FakeSmtp {
  host: string;
  port: number;
  received: ReceivedEmail[];
  /** AUTH attempts with their outcome, for "the password was checked" assertions. */
  logins: { user: string; ok: boolean }[];
  /** Every session that reached MAIL FROM, including refused ones. */
  transactions: number;
  /** The next `times` transactions are answered `code message` at `stage`. */
  failNext(opts: { stage: FailureStage; code: number; message: string; times?: number }): void;
  /** Resolves once `n` messages were received. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedEmail[]>;
  close(): Promise<void>;
}

export interface FakeSmtpOptions {
  user: string;
  password: string;
  /** `none`: plain SMTP without STARTTLS; `starttls`: STARTTLS offered (smtp-server's test certificate); `implicit`: TLS from the first byte. */
  tls?: 'none' | 'starttls' | 'implicit';
  /** The SIZE the server advertises and enforces (552 above it), like a real MTA. */
  maxBytes?: number;
}

const smtpError = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

const same = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/**
 * A real SMTP server on 127.0.0.1 and a free port (`smtp-server`), as strict as a submission
 * server: AUTH is required before MAIL FROM (530 otherwise), wrong credentials get 535, an
 * address at `bounce.test` gets 550 at RCPT, messages over `maxBytes` get 552. Each accepted
 * message is parsed with `mailparser` and kept; failures can be scripted for the next
 * transactions to exercise retries.
 */
export const startFakeSmtp = async (opts: FakeSmtpOptions): Promise<FakeSmtp> => {
  const received: ReceivedEmail[] = [];
  const logins: FakeSmtp['logins'] = [];
  const script: { stage: FailureStage; code: number; message: string; left: number }[] = [];
  const waiters = new Set<() => void>();
  let transactions = 0;
  let queued = 0;
  const tls = opts.tls ?? 'none';

  /** The scripted failure for this stage, if the head of the script is one. */
  const scripted = (stage: FailureStage) => {
    const head = script[0];
    if (!head || head.stage !== stage) return undefined;
    head.left -= 1;
    if (head.left <= 0) script.shift();
    return smtpError(head.code, head.message);
  };

  const onData = (stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, msg?: string) => void) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (stream.sizeExceeded) return cb(smtpError(552, '5.3.4 Message size exceeds fixed maximum message size'));
      const failure = scripted('data');
      if (failure) return cb(failure);
      const raw = Buffer.concat(chunks);
      const queueId = `FAKE${++queued}`;
      simpleParser(raw).then(
        (parsed) => {
          received.push({
            user: typeof session.user === 'string' ? session.user : undefined,
            envelope: {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
            },
            raw,
            parsed,
            queueId,
          });
          for (const w of [...waiters]) w();
          cb(null, `2.0.0 Ok: queued as ${queueId}`);
        },
        (err: Error) => cb(smtpError(554, `5.6.0 Message could not be parsed: ${err.message}`)),
      );
    });
  };

  const server = new SMTPServer({
    logger: false,
    secure: tls === 'implicit',
    disabledCommands: tls === 'none' ? ['STARTTLS'] : [],
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    size: opts.maxBytes ?? 10 * 1024 * 1024,
    onConnect(_session, cb) {
      cb(scripted('connect') ?? null);
    },
    onAuth(auth, _session, cb) {
      const ok = auth.username === opts.user && same(auth.password ?? '', opts.password);
      logins.push({ user: auth.username ?? '', ok });
      if (!ok) return cb(smtpError(535, '5.7.8 Authentication credentials invalid'));
      cb(null, { user: auth.username });
    },
    onMailFrom(_address, _session, cb) {
      transactions += 1;
      cb(scripted('mail') ?? null);
    },
    onRcptTo(address, _session, cb) {
      if (address.address.toLowerCase().endsWith('@bounce.test')) {
        return cb(smtpError(550, '5.1.1 Mailbox unavailable'));
      }
      cb(scripted('rcpt') ?? null);
    },
    onData,
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    received,
    logins,
    get transactions() {
      return transactions;
    },
    failNext({ stage, code, message, times = 1 }) {
      script.push({ stage, code, message, left: times });
    },
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`fake SMTP: ${received.length} of ${n} messages after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          waiters.add(() => {
            clearTimeout(t);
            resolve();
          });
        });
        waiters.clear();
      }
      return received.slice(0, n);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';

export interface TwilioRequest {
  method: string;
  path: string;
  /** The Basic-auth user (account SID), never the token. */
  user: string | undefined;
  form: Record<string, string>;
}

export interface TwilioMessage {
  sid: string;
  to: string;
  from: string;
  body: string;
  status: string;
  numSegments: number;
  price: string | null;
  errorCode: number | null;
  errorMessage: string | null;
  statusCallback: string | null;
  dateCreated: Date;
}

/**
 * A scripted answer for the next request of a kind (`create`, `fetch`, `balance`):
 * - `http` (+`code`): that status with Twilio's error body; `retryAfter` adds the header;
 *   `accept` creates the message first (a 5xx after Twilio took it: outcome unknown).
 * - `code` alone: a 400 with that error code (21211 invalid To, 21610 STOP, …).
 * - `hang`: create the message and never answer.
 */
export type TwilioFailure =
  | { http: number; code?: number; retryAfter?: number; accept?: boolean }
  | { code: number; message?: string }
  | { hang: true };

export interface FakeTwilio {
  /** `TWILIO_API_BASE_URL`. */
  url: string;
  accountSid: string;
  authToken: string;
  requests: TwilioRequest[];
  /** Every message created, in order. */
  messages: TwilioMessage[];
  failNext(kind: 'create' | 'fetch' | 'balance', failure: TwilioFailure): void;
  setStatus(sid: string, status: string, opts?: { errorCode?: number; errorMessage?: string; price?: string }): void;
  /** Called with each message as it is created (a test can move it on at once). */
  onCreate: ((m: TwilioMessage) => void) | undefined;
  /** POSTs a status callback signed as Twilio signs it (HMAC-SHA1 under the auth token) to `url`. */
  callback(url: string, sid: string, status: string, opts?: { errorCode?: number; signature?: string }): Promise<number>;
  close(): Promise<void>;
}

const MESSAGES: Readonly<Record<number, [number, string]>> = {
  20003: [401, 'Authenticate'],
  20404: [404, 'The requested resource was not found'],
  20429: [429, 'Too Many Requests'],
  20500: [500, 'Internal Server Error'],
  21211: [400, "The 'To' number is not a valid phone number."],
  21408: [400, 'Permission to send an SMS has not been enabled for the region indicated by the To number'],
  21602: [400, 'Message body is required.'],
  21603: [400, "A 'From' phone number is required."],
  21604: [400, "A 'To' phone number is required."],
  21606: [400, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination."],
  21610: [400, 'Attempt to send to unsubscribed recipient'],
  21614: [400, "'To' number is not a valid mobile number"],
};

const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000');
const segmentsOf = (body: string) => {
  const gsm = /^[\x20-\x7E\n\r]*$/.test(body);
  return gsm ? (body.length <= 160 ? 1 : Math.ceil(body.length / 153)) : body.length <= 70 ? 1 : Math.ceil(body.length / 67);
};

/**
 * A local stand-in for Twilio's Messages API (2010-04-01) on 127.0.0.1 and a free port: HTTP
 * Basic auth with the account SID and auth token, the SID in the path must be the caller's,
 * `To`, `From` (or a Messaging Service) and `Body` required, E.164 `To`; answers 201 with the
 * snake_case message resource, errors as `{code, message, more_info, status}`.
 */
export const startFakeTwilio = async (opts: { accountSid: string; authToken: string; balance?: string }): Promise<FakeTwilio> => {
  const requests: TwilioRequest[] = [];
  const messages: TwilioMessage[] = [];
  const bySid = new Map<string, TwilioMessage>();
  const failures = new Map<string, TwilioFailure[]>();
  const hanging = new Set<ServerResponse>();
  const hooks: { onCreate: ((m: TwilioMessage) => void) | undefined } = { onCreate: undefined };
  const expectedAuth = `Basic ${Buffer.from(`${opts.accountSid}:${opts.authToken}`).toString('base64')}`;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (
    res: ServerResponse,
    code: number,
    opt: { status?: number; message?: string; headers?: Record<string, string> } = {},
  ) => {
    const [status, message] = MESSAGES[code] ?? [400, 'Bad request'];
    send(
      res,
      opt.status ?? status,
      {
        code,
        message: opt.message ?? message,
        more_info: `https://www.twilio.com/docs/errors/${code}`,
        status: opt.status ?? status,
      },
      opt.headers,
    );
  };
  const resource = (m: TwilioMessage) => ({
    sid: m.sid,
    account_sid: opts.accountSid,
    to: m.to,
    from: m.from,
    messaging_service_sid: null,
    body: m.body,
    status: m.status,
    num_segments: String(m.numSegments),
    num_media: '0',
    direction: 'outbound-api',
    api_version: '2010-04-01',
    price: m.price,
    price_unit: 'USD',
    error_code: m.errorCode,
    error_message: m.errorMessage,
    date_created: rfc2822(m.dateCreated),
    date_updated: rfc2822(new Date()),
    date_sent: m.status === 'queued' ? null : rfc2822(m.dateCreated),
    uri: `/2010-04-01/Accounts/${opts.accountSid}/Messages/${m.sid}.json`,
    subresource_uris: { media: `/2010-04-01/Accounts/${opts.accountSid}/Messages/${m.sid}/Media.json` },
  });
  const create = (form: Record<string, string>): TwilioMessage => {
    const m: TwilioMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      to: form.To ?? '',
      from: form.From ?? '',
      body: form.Body ?? '',
      status: 'queued',
      numSegments: segmentsOf(form.Body ?? ''),
      price: null,
      errorCode: null,
      errorMessage: null,
      statusCallback: form.StatusCallback ?? null,
      dateCreated: new Date(),
    };
    messages.push(m);
    bySid.set(m.sid, m);
    hooks.onCreate?.(m);
    return m;
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const authHeader = req.headers.authorization ?? '';
    const user = authHeader.startsWith('Basic ')
      ? Buffer.from(authHeader.slice(6), 'base64').toString('utf8').split(':')[0]
      : undefined;
    requests.push({ method: req.method ?? '', path, user, form });

    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages\.json|Messages\/([^/]+)\.json|Balance\.json)$/.exec(path);
    if (!m) return error(res, 20404);
    const kind = m[2] === 'Messages.json' ? 'create' : m[2] === 'Balance.json' ? 'balance' : 'fetch';
    if (authHeader !== expectedAuth || m[1] !== opts.accountSid) {
      return error(res, 20003, { headers: { 'www-authenticate': 'Basic realm="Twilio API"' } });
    }
    const failure = failures.get(kind)?.shift();
    if (failure && 'hang' in failure) {
      if (kind === 'create') create(form);
      hanging.add(res);
      return;
    }
    if (failure && 'http' in failure) {
      if (failure.accept && kind === 'create') create(form);
      const code = failure.code ?? (failure.http === 429 ? 20429 : 20500);
      return error(res, code, {
        status: failure.http,
        ...(failure.retryAfter === undefined ? {} : { headers: { 'retry-after': String(failure.retryAfter) } }),
      });
    }
    if (failure && 'code' in failure) return error(res, failure.code, failure.message ? { message: failure.message } : {});

    if (kind === 'balance') {
      if (req.method !== 'GET') return error(res, 20404);
      return send(res, 200, { account_sid: opts.accountSid, balance: opts.balance ?? '20.00', currency: 'USD' });
    }
    if (kind === 'fetch') {
      const msg = bySid.get(decodeURIComponent(m[3] as string));
      if (req.method !== 'GET' || !msg) return error(res, 20404);
      return send(res, 200, resource(msg));
    }
    if (req.method !== 'POST') return error(res, 20404);
    if (!form.To) return error(res, 21604);
    if (!form.From && !form.MessagingServiceSid) return error(res, 21603);
    if (!form.Body && !form.MediaUrl && !form.ContentSid) return error(res, 21602);
    if (!/^\+[1-9]\d{6,14}$/.test(form.To)) return error(res, 21211);
    return send(res, 201, resource(create(form)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accountSid: opts.accountSid,
    authToken: opts.authToken,
    requests,
    messages,
    get onCreate() {
      return hooks.onCreate;
    },
    set onCreate(f) {
      hooks.onCreate = f;
    },
    failNext(kind, failure) {
      failures.set(kind, [...(failures.get(kind) ?? []), failure]);
    },
    setStatus(sid, status, o = {}) {
      const msg = bySid.get(sid);
      if (!msg) throw new Error(`the fake never created ${sid}`);
      msg.status = status;
      if (o.errorCode !== undefined) msg.errorCode = o.errorCode;
      if (o.errorMessage !== undefined) msg.errorMessage = o.errorMessage;
      if (o.price !== undefined) msg.price = o.price;
    },
    async callback(target, sid, status, o = {}) {
      const msg = bySid.get(sid);
      const params: Record<string, string> = {
        MessageSid: sid,
        SmsSid: sid,
        MessageStatus: status,
        SmsStatus: status,
        AccountSid: opts.accountSid,
        From: msg?.from ?? '',
        To: msg?.to ?? '',
        ApiVersion: '2010-04-01',
        ...(o.errorCode === undefined ? {} : { ErrorCode: String(o.errorCode) }),
      };
      const signature = o.signature ?? twilio.getExpectedTwilioSignature(opts.authToken, target, params);
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      });
      await res.arrayBuffer();
      return res.status;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

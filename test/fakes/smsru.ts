import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the fake received it: form body and query merged (SMS.ru reads both). */
export interface SmsRuRequest {
  method: string;
  path: string;
  params: Record<string, string>;
}

export interface SmsRuMessage {
  id: string;
  to: string;
  msg: string;
  from?: string;
  /** Delivery status code (100 queued … 103 delivered, 104+ failures); scripted by the test. */
  statusCode: number;
  cost: number;
  segments: number;
}

/**
 * A scripted answer for the next request of a method:
 * - `http`: that HTTP status with an nginx-like HTML body (an outage in front of SMS.ru);
 *   `retryAfter` adds the header; `accept` records the message as sent first (outcome unknown).
 * - `code`: SMS.ru's body-level error (HTTP 200), top-level or for the number (`perNumber`).
 * - `hang`: record the message as sent and never answer (the caller times out or dies).
 */
export type SmsRuFailure =
  | { http: number; retryAfter?: number; accept?: boolean }
  | { code: number; text?: string; perNumber?: boolean }
  | { hang: true };

export interface FakeSmsRu {
  /** `SMSRU_BASE_URL`. */
  url: string;
  apiKey: string;
  requests: SmsRuRequest[];
  /** Every message the fake accepted, in order. */
  sent: SmsRuMessage[];
  balance: number;
  /** Scripts the next call of `method` (`sms/send`, `sms/status`, `my/balance`); queued in order. */
  failNext(method: string, failure: SmsRuFailure): void;
  setStatus(id: string, statusCode: number): void;
  /** Called with each message as it is accepted (a test can move it on at once). */
  onAccept: ((m: SmsRuMessage) => void) | undefined;
  /** POSTs SMS.ru's delivery callback (`data[N]` records) to `url`; resolves with the answer's status and body. */
  callback(url: string, records: { id: string; statusCode: number; time?: number }[]): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/** Texts SMS.ru gives with its codes (joomla.sms.ru mirror of the API docs). */
const TEXTS: Readonly<Record<number, string>> = {
  200: 'Неправильный api_id',
  201: 'Не хватает средств на лицевом счету',
  202: 'Неправильно указан номер телефона получателя, либо на него нет маршрута',
  203: 'Нет текста сообщения',
  204: 'Имя отправителя не согласовано с администрацией',
  207: 'На этот номер нет маршрута для доставки сообщений',
  209: 'Вы добавили этот номер (или один из номеров) в стоп-лист',
  210: 'Используется GET, где необходимо использовать POST',
  211: 'Метод не найден',
  220: 'Сервис временно недоступен, попробуйте чуть позже',
  500: 'Ошибка на сервере. Повторите запрос.',
  [-1]: 'Сообщение не найдено',
};
const PRICE_PER_SEGMENT = 3.95;

/** GSM-7 or UCS-2 segment count (enough for the fake's pricing: Latin vs Cyrillic texts). */
const segmentsOf = (msg: string) => {
  const gsm = /^[\x20-\x7E\n\r]*$/.test(msg);
  return gsm ? (msg.length <= 160 ? 1 : Math.ceil(msg.length / 153)) : msg.length <= 70 ? 1 : Math.ceil(msg.length / 67);
};

/**
 * A local stand-in for the SMS.ru HTTP API on 127.0.0.1 and a free port. Like the real one it
 * answers HTTP 200 with `"status":"ERROR"` and a `status_code` in the body for API errors, checks
 * `api_id`, insists on POST for sending (210) and on `json=1` for JSON (plain text otherwise),
 * needs `to` and `msg`, and keeps each message's status and cost for `sms/status`.
 */
export const startFakeSmsRu = async (opts: { apiKey: string; balance?: number }): Promise<FakeSmsRu> => {
  const requests: SmsRuRequest[] = [];
  const sent: SmsRuMessage[] = [];
  const byId = new Map<string, SmsRuMessage>();
  const failures = new Map<string, SmsRuFailure[]>();
  const hanging = new Set<ServerResponse>();
  let seq = 10_000_000;
  const fake: { balance: number; onAccept: ((m: SmsRuMessage) => void) | undefined } = {
    balance: opts.balance ?? 1_000,
    onAccept: undefined,
  };

  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const error = (code: number, text?: string) => ({
    status: 'ERROR',
    status_code: code,
    status_text: text ?? TEXTS[code] ?? 'Ошибка',
  });

  const accept = (to: string, msg: string, from: string | undefined): SmsRuMessage => {
    const segments = segmentsOf(msg);
    const m: SmsRuMessage = {
      id: `${String(sent.length % 1_000_000).padStart(6, '0')}-${++seq}`,
      to,
      msg,
      statusCode: 100,
      cost: Math.round(PRICE_PER_SEGMENT * segments * 100) / 100,
      segments,
      ...(from ? { from } : {}),
    };
    sent.push(m);
    byId.set(m.id, m);
    fake.balance = Math.round((fake.balance - m.cost) * 100) / 100;
    fake.onAccept?.(m);
    return m;
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const params: Record<string, string> = Object.fromEntries(url.searchParams);
    for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) params[k] = v;
    const method = url.pathname.replace(/^\//, '');
    requests.push({ method: req.method ?? '', path: url.pathname, params });

    const failure = failures.get(method)?.shift();
    if (failure && 'http' in failure) {
      if (failure.accept && method === 'sms/send' && params.to && params.msg) accept(params.to, params.msg, params.from);
      res.writeHead(failure.http, {
        'content-type': 'text/html',
        ...(failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) }),
      });
      res.end(`<html><body><h1>${failure.http}</h1>nginx</body></html>`);
      return;
    }
    if (failure && 'hang' in failure) {
      if (method === 'sms/send' && params.to && params.msg) accept(params.to, params.msg, params.from);
      hanging.add(res);
      return;
    }
    if (params.json !== '1') {
      // Without json=1 SMS.ru answers lines of text; a client that forgets it cannot read this as JSON.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('100\n');
      return;
    }
    if (params.api_id !== opts.apiKey) return json(res, error(200));
    if (failure && 'code' in failure && !failure.perNumber) return json(res, error(failure.code, failure.text));

    switch (method) {
      case 'sms/send': {
        if (req.method !== 'POST') return json(res, error(210));
        if (!params.msg) return json(res, error(203));
        if (!params.to) return json(res, error(202));
        const phones = params.to.split(',');
        const sms: Record<string, unknown> = {};
        for (const phone of phones) {
          if (failure && 'code' in failure) sms[phone] = error(failure.code, failure.text);
          else if (!/^\d{10,15}$/.test(phone)) sms[phone] = error(202);
          else sms[phone] = { status: 'OK', status_code: 100, sms_id: accept(phone, params.msg, params.from).id };
        }
        return json(res, { status: 'OK', status_code: 100, sms, balance: fake.balance });
      }
      case 'sms/status': {
        if (!params.sms_id) return json(res, error(-1));
        const sms: Record<string, unknown> = {};
        for (const id of params.sms_id.split(',')) {
          const m = byId.get(id);
          sms[id] = m
            ? { status: 'OK', status_code: m.statusCode, cost: m.cost, sms: m.segments, status_text: `status ${m.statusCode}` }
            : error(-1);
        }
        return json(res, { status: 'OK', status_code: 100, sms, balance: fake.balance });
      }
      case 'my/balance':
        // SMS.ru sends amounts as numbers or strings; the fake uses a string to keep clients honest.
        return json(res, { status: 'OK', status_code: 100, balance: fake.balance.toFixed(2) });
      default:
        return json(res, error(211));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey: opts.apiKey,
    requests,
    sent,
    get balance() {
      return fake.balance;
    },
    set balance(v: number) {
      fake.balance = v;
    },
    get onAccept() {
      return fake.onAccept;
    },
    set onAccept(f) {
      fake.onAccept = f;
    },
    failNext(method, failure) {
      failures.set(method, [...(failures.get(method) ?? []), failure]);
    },
    setStatus(id, statusCode) {
      const m = byId.get(id);
      if (!m) throw new Error(`the fake never sent ${id}`);
      m.statusCode = statusCode;
    },
    async callback(target, records) {
      const form = new URLSearchParams();
      for (const [i, r] of records.entries()) {
        const time = String(r.time ?? Math.floor(Date.now() / 1000));
        form.set(`data[${i}]`, ['sms_status', r.id, String(r.statusCode), time].join('\n'));
      }
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      return { status: res.status, body: await res.text() };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

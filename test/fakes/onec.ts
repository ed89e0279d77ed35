import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OneCObject {
  Ref_Key: string;
  DataVersion: string;
  DeletionMark: boolean;
  [attribute: string]: unknown;
}

export interface FakeOneC {
  /** The OData root as ERP_API_URL takes it: `http://127.0.0.1:<port>/<pub>/odata/standard.odata`. */
  url: string;
  sets: Map<string, Map<string, OneCObject>>;
  /** Raw request lines (method and the URL as sent, percent-encoding kept). */
  requests: { method: string; rawUrl: string; ifMatch?: string }[];
  /** Every request answers 503 while true (an outage). */
  down: boolean;
  /** After this many more requests, the fake goes down (an outage in the middle of a run). */
  downAfter(requests: number): void;
  /** The next create is carried out, but its answer comes only after `ms` (a client timeout). */
  delayNextCreate(ms: number): void;
  /** The next Post of a document fails with 500 and 1C's code -1. */
  failNextPost(): void;
  /** Objects as 1C would hold them, created outside the gateway (new Ref_Key, DataVersion). */
  seed(set: string, objects: Record<string, unknown>[]): OneCObject[];
  /** An edit made by a 1C user: new DataVersion. */
  edit(set: string, key: string, changes: Record<string, unknown>): OneCObject;
  /** Milliseconds spent inside request handlers (the bench's "time in the fake"). */
  busyMs: number;
  close(): Promise<void>;
}

const EMPTY = '00000000-0000-0000-0000-000000000000';

const odataError = (res: ServerResponse, status: number, code: string, message: string) => {
  res.writeHead(status, {
    'content-type': 'application/json;charset=utf-8',
    ...(status === 401 ? { 'www-authenticate': 'Basic realm="1C"' } : {}),
  });
  res.end(JSON.stringify({ 'odata.error': { code, message: { lang: 'ru', value: message } } }));
};

/** A literal of the `$filter` subset: guid'…', datetime'…', '…' (quotes doubled), numbers, true/false. */
const literal = (s: string): unknown => {
  const t = s.trim();
  const m = /^(guid|datetime)?'((?:[^']|'')*)'$/.exec(t);
  if (m) return (m[2] as string).replace(/''/g, "'");
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  throw new Error(`unsupported literal ${t}`);
};

type Pred = (o: OneCObject) => boolean;
const OPS: Record<string, (a: unknown, b: unknown) => boolean> = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: (a, b) => String(a) > String(b),
  ge: (a, b) => String(a) >= String(b),
  lt: (a, b) => String(a) < String(b),
  le: (a, b) => String(a) <= String(b),
};
/** `A eq x and B eq y or C eq z` (no parentheses): `or` of `and`s, as 1C's parser groups them. */
const parseFilter = (f: string): Pred => {
  const ors = f.split(/\s+or\s+/).map((part) =>
    part.split(/\s+and\s+/).map((cmp): Pred => {
      const m = /^\s*([\p{L}\p{N}_]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+)$/u.exec(cmp);
      if (!m) throw new Error(`unsupported $filter term ${cmp}`);
      const [, field, op, lit] = m as unknown as [string, string, string, string];
      const value = literal(lit);
      const fn = OPS[op] as (a: unknown, b: unknown) => boolean;
      return (o) => fn(o[field], value);
    }),
  );
  return (o) => ors.some((ands) => ands.every((p) => p(o)));
};

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

/**
 * A local stand-in for 1C's standard OData interface (PROVIDERS.md §7) on 127.0.0.1: Basic auth
 * with a UTF-8 login, entity sets by their percent-encoded Cyrillic names, `$top`/`$skip`/
 * `$orderby=Ref_Key`/`$select`/`$filter` (eq…le, and, or, guid'…', datetime'…'), GUID keys,
 * DataVersion per write, `If-Match` → 412, documents created unposted and posted by `…/Post`,
 * 1C's error body (`odata.error`, code -1 for an internal error). Only `sets` exist (404 else, as
 * an object not added to the OData content).
 */
export const startFakeOneC = async (opts: { user: string; password: string; sets: readonly string[]; publication?: string }) => {
  const pub = opts.publication ?? 'fleet';
  const prefix = `/${pub}/odata/standard.odata`;
  const sets = new Map<string, Map<string, OneCObject>>(opts.sets.map((s) => [s, new Map()]));
  const sorted = new Map<string, OneCObject[] | undefined>();
  let version = 0;
  const nextVersion = () => Buffer.from(`v${++version}`).toString('base64');
  const expected = `Basic ${Buffer.from(`${opts.user}:${opts.password}`, 'utf8').toString('base64')}`;
  let downIn: number | undefined;
  let createDelay = 0;
  let postFails = false;

  const store = (set: string, fields: Record<string, unknown>): OneCObject => {
    const o: OneCObject = { ...fields, Ref_Key: randomUUID(), DataVersion: nextVersion(), DeletionMark: false };
    if (set.startsWith('Document_')) {
      o.Posted = false;
      o.Number ??= String(version).padStart(9, '0');
    } else {
      o.Code ??= String(version).padStart(9, '0');
    }
    sets.get(set)?.set(o.Ref_Key, o);
    sorted.set(set, undefined);
    return o;
  };
  const ordered = (set: string) => {
    let s = sorted.get(set);
    if (!s) {
      s = [...(sets.get(set)?.values() ?? [])].sort((a, b) => (a.Ref_Key < b.Ref_Key ? -1 : 1));
      sorted.set(set, s);
    }
    return s;
  };

  const fake: FakeOneC = {
    url: '',
    sets,
    requests: [],
    down: false,
    busyMs: 0,
    downAfter(n) {
      downIn = n;
    },
    delayNextCreate(ms) {
      createDelay = ms;
    },
    failNextPost() {
      postFails = true;
    },
    seed(set, objects) {
      return objects.map((f) => store(set, f));
    },
    edit(set, key, changes) {
      const o = sets.get(set)?.get(key);
      if (!o) throw new Error(`no ${set}(${key})`);
      Object.assign(o, changes, { DataVersion: nextVersion() });
      return o;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
    res.end(text);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const rawUrl = req.url ?? '/';
    fake.requests.push({
      method: req.method ?? 'GET',
      rawUrl,
      ...(req.headers['if-match'] ? { ifMatch: String(req.headers['if-match']) } : {}),
    });
    if (downIn !== undefined && --downIn < 0) {
      fake.down = true;
      downIn = undefined;
    }
    if (fake.down) return odataError(res, 503, '-1', 'Сервис временно недоступен');
    if (req.headers.authorization !== expected) return odataError(res, 401, '-1', 'Ошибка аутентификации');
    const u = new URL(rawUrl, 'http://x');
    const path = decodeURIComponent(u.pathname);
    if (!path.startsWith(prefix)) return odataError(res, 404, '-1', 'Not found');
    const rest = path.slice(prefix.length).replace(/^\//, '');
    if (rest === '')
      return json(res, 200, {
        'odata.metadata': `${prefix}/$metadata`,
        value: [...sets.keys()].map((name) => ({ name, url: name })),
      });
    const m = /^([^()/]+)(?:\(guid'([0-9a-f-]{36})'\))?(?:\/(Post|Unpost))?$/.exec(rest);
    if (!m) return odataError(res, 400, '-1', 'Неверный URL');
    const [, set, key, action] = m as unknown as [string, string, string | undefined, string | undefined];
    const objects = sets.get(set);
    if (!objects) return odataError(res, 404, '14', `Не найден объект ${set}`);
    const method = req.method ?? 'GET';
    const meta = `${prefix}/$metadata#${set}`;

    if (!key) {
      if (method === 'GET') {
        const q = u.searchParams;
        let list = q.get('$orderby') === 'Ref_Key' ? ordered(set) : [...objects.values()];
        const filter = q.get('$filter');
        if (filter) {
          try {
            const pred = parseFilter(filter);
            list = list.filter(pred);
          } catch (e) {
            return odataError(res, 400, '-1', (e as Error).message);
          }
        }
        const skip = Number(q.get('$skip') ?? 0);
        const top = q.get('$top') === null ? list.length : Number(q.get('$top'));
        let page: Record<string, unknown>[] = list.slice(skip, skip + top);
        const select = q.get('$select');
        if (select) {
          const fields = select.split(',');
          page = page.map((o) => Object.fromEntries(fields.map((f) => [f, o[f]])));
        }
        return json(res, 200, { 'odata.metadata': meta, value: page });
      }
      if (method === 'POST') {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(await readBody(req)) as Record<string, unknown>;
        } catch {
          return odataError(res, 400, '-1', 'Ошибка разбора JSON');
        }
        if ('Ref_Key' in body || 'Posted' in body)
          return odataError(res, 400, '-1', 'Ref_Key and Posted are not written on create');
        for (const [k, v] of Object.entries(body)) {
          if (k.endsWith('_Key') && v !== EMPTY && !(typeof v === 'string' && /^[0-9a-f-]{36}$/.test(v)))
            return odataError(res, 400, '-1', `Неверное значение ${k}`);
        }
        const o = store(set, body);
        const delay = createDelay;
        createDelay = 0;
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        return json(res, 201, { 'odata.metadata': `${meta}/@Element`, ...o });
      }
      return odataError(res, 405, '-1', 'Method not allowed');
    }

    const o = objects.get(key);
    if (!o) return odataError(res, 404, '-1', `Объект не найден: ${key}`);
    if (action) {
      if (method !== 'POST' || !set.startsWith('Document_')) return odataError(res, 400, '-1', 'Not a document');
      if (postFails) {
        postFails = false;
        return odataError(res, 500, '-1', 'Произошла внутренняя ошибка OData сервиса');
      }
      o.Posted = action === 'Post';
      o.DataVersion = nextVersion();
      res.writeHead(200);
      return res.end();
    }
    if (method === 'GET') return json(res, 200, { 'odata.metadata': `${meta}/@Element`, ...o });
    if (method === 'PATCH') {
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && ifMatch !== o.DataVersion)
        return odataError(res, 412, '-1', 'Версия объекта не совпадает (объект изменен другим пользователем)');
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      if ('Ref_Key' in body) return odataError(res, 400, '-1', 'Ref_Key is read-only');
      if ('DeletionMark' in body && typeof body.DeletionMark !== 'boolean')
        return odataError(res, 400, '-1', 'DeletionMark: ожидается Edm.Boolean');
      Object.assign(o, body, { DataVersion: nextVersion() });
      return json(res, 200, { 'odata.metadata': `${meta}/@Element`, ...o });
    }
    return odataError(res, 405, '-1', 'Method not allowed');
  };

  const server = createServer((req, res) => {
    const t0 = performance.now();
    handle(req, res)
      .catch((e) => odataError(res, 500, '-1', String(e)))
      .finally(() => {
        fake.busyMs += performance.now() - t0;
      });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`;
  return fake;
};

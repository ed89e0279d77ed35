import { withoutTrailingSlashes } from '../../core/text/trailingSlashes.js';
import { classifyStatus, ErpError, type ErpObject, type ErpPort, fetchWithTimeout } from './port.js';

export interface OneCOptions {
  /** The OData root: `http(s)://host/<publication>/odata/standard.odata`. */
  baseUrl: string;
  /** An infobase user; Cyrillic logins are sent as UTF-8 (what the 1C web server decodes). */
  user: string;
  password: string;
  timeoutMs: number;
}

/** Keys in 1C are GUIDs: checked before they go into a URL or a `$filter`. */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const guid = (key: string) => {
  if (!GUID.test(key)) throw ErpError.of('invalid', `not a 1C reference: ${key}`, false);
  return `guid'${key}'`;
};
/** OData v3 string literal: quotes doubled. */
const literal = (v: string) => `'${v.replace(/'/g, "''")}'`;
/** Query text with `$` options kept literal, values percent-encoded (Cyrillic attribute names included). */
const query = (params: Record<string, string>) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');

const toObject = (raw: Record<string, unknown>): ErpObject => {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!k.startsWith('odata.')) fields[k] = v;
  return {
    key: String(raw.Ref_Key),
    version: String(raw.DataVersion ?? ''),
    deleted: raw.DeletionMark === true,
    fields,
  };
};

/** 1C's error body: `{"odata.error":{"code":"-1","message":{"lang":"ru","value":"…"}}}`. */
const errorOf = async (res: Response, what: string, posting = false): Promise<ErpError> => {
  const text = await res.text().catch(() => '');
  let erpCode: string | undefined;
  let message = text.slice(0, 200);
  try {
    const e = (JSON.parse(text) as { 'odata.error'?: { code?: string; message?: { value?: string } } })['odata.error'];
    erpCode = e?.code;
    message = e?.message?.value ?? message;
  } catch {
    // XML or an HTML page from the web server: the text as is.
  }
  const { code, retryable } = classifyStatus(res.status);
  // -1 from Post is a posting handler refusing the document (a business rule), not an outage.
  const permanent = posting && erpCode === '-1';
  return ErpError.of(
    code,
    `1C answered ${res.status}${erpCode ? ` (code ${erpCode})` : ''} to ${what}: ${message}`,
    retryable && !permanent,
    { status: res.status, ...(erpCode === undefined ? {} : { erpCode }) },
  );
};

/** 1C:Enterprise's standard OData interface (PROVIDERS.md §7). */
export const oneCErp = (o: OneCOptions): ErpPort => {
  const root = withoutTrailingSlashes(o.baseUrl);
  const auth = `Basic ${Buffer.from(`${o.user}:${o.password}`, 'utf8').toString('base64')}`;
  const headers = { authorization: auth, accept: 'application/json' };
  const setUrl = (set: string) => `${root}/${encodeURIComponent(set)}`;
  const oneUrl = (set: string, key: string) => `${setUrl(set)}(${encodeURIComponent(guid(key))})`;

  const call = async (url: string, init: RequestInit, what: string, posting = false) => {
    const res = await fetchWithTimeout(url, { ...init, headers: { ...headers, ...(init.headers ?? {}) } }, o.timeoutMs);
    if (!res.ok) throw await errorOf(res, what, posting);
    return res;
  };
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;
  const listOf = async (res: Response) => ((await json(res)).value as Record<string, unknown>[] | undefined) ?? [];

  const get = async (set: string, key: string) =>
    toObject(await json(await call(`${oneUrl(set, key)}?$format=json`, {}, `GET ${set}`)));

  return {
    kind: '1c',
    async list(set, { position, pageSize, versionsOnly }) {
      const skip = Number(position ?? 0);
      const params: Record<string, string> = {
        $format: 'json',
        $top: String(pageSize),
        $skip: String(skip),
        $orderby: 'Ref_Key',
        ...(versionsOnly ? { $select: 'Ref_Key,DataVersion,DeletionMark' } : {}),
      };
      const rows = await listOf(await call(`${setUrl(set)}?${query(params)}`, {}, `GET ${set}`));
      const objects = rows.map(toObject);
      return { objects, ...(objects.length === pageSize ? { next: String(skip + objects.length) } : {}) };
    },
    async getMany(set, keys) {
      const out: ErpObject[] = [];
      // `or` of keys, 25 to a request: the URL stays far below the web server's limit.
      for (let i = 0; i < keys.length; i += 25) {
        const filter = keys
          .slice(i, i + 25)
          .map((k) => `Ref_Key eq ${guid(k)}`)
          .join(' or ');
        const rows = await listOf(await call(`${setUrl(set)}?${query({ $format: 'json', $filter: filter })}`, {}, `GET ${set}`));
        out.push(...rows.map(toObject));
      }
      return out;
    },
    async findByAttribute(set, attribute, value) {
      const params = { $format: 'json', $top: '1', $filter: `${attribute} eq ${literal(value)}` };
      const [row] = await listOf(await call(`${setUrl(set)}?${query(params)}`, {}, `GET ${set}`));
      return row ? toObject(row) : undefined;
    },
    async create(set, fields) {
      const res = await call(
        `${setUrl(set)}?$format=json`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) },
        `POST ${set}`,
      );
      return toObject(await json(res));
    },
    async update(set, key, fields, ifVersion) {
      const res = await call(
        `${oneUrl(set, key)}?$format=json`,
        {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', ...(ifVersion ? { 'if-match': ifVersion } : {}) },
          body: JSON.stringify(fields),
        },
        `PATCH ${set}`,
      );
      const body = await res.text();
      // Some 1C releases answer PATCH with an empty body: read the object back.
      return body ? toObject(JSON.parse(body) as Record<string, unknown>) : get(set, key);
    },
    async markDeleted(set, key) {
      try {
        await call(
          `${oneUrl(set, key)}?$format=json`,
          { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ DeletionMark: true }) },
          `PATCH ${set} DeletionMark`,
        );
      } catch (e) {
        if (!(e instanceof ErpError && e.code === 'not_found')) throw e;
      }
    },
    async post(set, key) {
      await call(`${oneUrl(set, key)}/Post?PostingModeOperational=false`, { method: 'POST' }, `Post ${set}`, true);
      // Post answers 200 with little or nothing: the new DataVersion comes from a re-read.
      return get(set, key);
    },
    async health() {
      await call(`${root}/?$format=json`, {}, 'GET the service document');
    },
  };
};

import { withoutTrailingSlashes } from '../../core/text/trailingSlashes.js';
import { classifyStatus, ErpError, type ErpObject, type ErpPort, fetchWithTimeout } from './port.js';

/**
 * How the custom ERP pages its lists:
 * - `offset`: `?offset=&limit=`, a page shorter than the limit is the last;
 * - `page`: `?page=&per_page=` (1-based);
 * - `cursor`: `?cursor=&limit=`, the answer's `next_cursor` (null after the last).
 */
export type CustomPaging = 'offset' | 'page' | 'cursor';

export interface CustomErpOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  paging: CustomPaging;
  timeoutMs: number;
}

/** The object shape: `{ id, version, deleted?, ...fields }`; lists: `{ items: [...], next_cursor? }` or a bare array. */
const toObject = (raw: Record<string, unknown>): ErpObject => {
  const { id, version, deleted, ...fields } = raw;
  return { key: String(id), version: String(version ?? ''), deleted: deleted === true, fields };
};

const errorOf = async (res: Response, what: string) => {
  const body = (await res.text().catch(() => '')).slice(0, 200);
  const { code, retryable } = classifyStatus(res.status);
  return ErpError.of(code, `ERP answered ${res.status} to ${what}: ${body}`, retryable, { status: res.status });
};

/** A generic REST/JSON ERP: `GET|POST /<path>`, `GET|PATCH /<path>/<id>` with `If-Match` (handlers/erp/README.md). */
export const customErp = (o: CustomErpOptions): ErpPort => {
  const root = withoutTrailingSlashes(o.baseUrl);
  const headers = { authorization: `Bearer ${o.apiKey}`, accept: 'application/json' };
  const call = async (url: string, init: RequestInit, what: string) => {
    const res = await fetchWithTimeout(url, { ...init, headers: { ...headers, ...(init.headers ?? {}) } }, o.timeoutMs);
    if (!res.ok) throw await errorOf(res, what);
    return res;
  };
  const items = (body: unknown): Record<string, unknown>[] =>
    Array.isArray(body) ? body : (((body as { items?: unknown }).items as Record<string, unknown>[] | undefined) ?? []);
  const one = async (res: Response) => toObject((await res.json()) as Record<string, unknown>);
  const path = (set: string) => `${root}/${encodeURIComponent(set)}`;

  return {
    kind: 'custom',
    async list(set, { position, pageSize }) {
      const q = new URLSearchParams({ limit: String(pageSize) });
      if (o.paging === 'offset') q.set('offset', position ?? '0');
      if (o.paging === 'page') {
        q.delete('limit');
        q.set('page', position ?? '1');
        q.set('per_page', String(pageSize));
      }
      if (o.paging === 'cursor' && position) q.set('cursor', position);
      const body = (await (await call(`${path(set)}?${q}`, {}, `GET /${set}`)).json()) as unknown;
      const objects = items(body).map(toObject);
      let next: string | undefined;
      if (o.paging === 'cursor') {
        const c = (body as { next_cursor?: unknown }).next_cursor;
        next = typeof c === 'string' && c !== '' ? c : undefined;
      } else if (objects.length === pageSize) {
        next = o.paging === 'page' ? String(Number(position ?? '1') + 1) : String(Number(position ?? '0') + objects.length);
      }
      return { objects, ...(next === undefined ? {} : { next }) };
    },
    async getMany(set, keys) {
      const out: ErpObject[] = [];
      for (const key of keys) {
        const res = await fetchWithTimeout(`${path(set)}/${encodeURIComponent(key)}`, { headers }, o.timeoutMs);
        if (res.status === 404) continue;
        if (!res.ok) throw await errorOf(res, `GET /${set}/{id}`);
        out.push(await one(res));
      }
      return out;
    },
    async findByAttribute(set, attribute, value) {
      const q = new URLSearchParams({ [attribute]: value, limit: '1' });
      const [row] = items(await (await call(`${path(set)}?${q}`, {}, `GET /${set}`)).json());
      return row ? toObject(row) : undefined;
    },
    async create(set, fields) {
      return one(
        await call(
          path(set),
          { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fields) },
          `POST /${set}`,
        ),
      );
    },
    async update(set, key, fields, ifVersion) {
      return one(
        await call(
          `${path(set)}/${encodeURIComponent(key)}`,
          {
            method: 'PATCH',
            headers: { 'content-type': 'application/json', ...(ifVersion ? { 'if-match': ifVersion } : {}) },
            body: JSON.stringify(fields),
          },
          `PATCH /${set}/{id}`,
        ),
      );
    },
    async markDeleted(set, key) {
      const res = await fetchWithTimeout(`${path(set)}/${encodeURIComponent(key)}`, { method: 'DELETE', headers }, o.timeoutMs);
      if (!res.ok && res.status !== 404 && res.status !== 410) throw await errorOf(res, `DELETE /${set}/{id}`);
    },
    async post(set, key) {
      const [obj] = await this.getMany(set, [key]);
      if (!obj) throw ErpError.of('not_found', `${set}/${key} is gone`, false);
      return obj;
    },
    async health() {
      await call(`${root}/`, {}, 'GET /');
    },
  };
};

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CustomErpObject {
  id: string;
  version: number;
  deleted: boolean;
  [field: string]: unknown;
}

export interface FakeCustomErp {
  url: string;
  collections: Map<string, Map<string, CustomErpObject>>;
  requests: { method: string; url: string }[];
  seed(path: string, objects: Record<string, unknown>[]): CustomErpObject[];
  edit(path: string, id: string, changes: Record<string, unknown>): void;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });

/**
 * A generic REST/JSON ERP as handlers/erp/custom.ts expects one: Bearer key, `GET /<path>` with
 * offset/limit paging and field filters (`?external_id=`), `POST /<path>`, `GET|PATCH /<path>/<id>`
 * with `If-Match` on the integer version (412 when stale), `DELETE /<path>/<id>` (soft: `deleted: true`).
 */
export const startFakeCustomErp = async (opts: { apiKey: string; paths: readonly string[] }): Promise<FakeCustomErp> => {
  const collections = new Map<string, Map<string, CustomErpObject>>(opts.paths.map((p) => [p, new Map()]));
  let seq = 0;
  const make = (path: string, fields: Record<string, unknown>) => {
    const o: CustomErpObject = { ...fields, id: `E${++seq}`, version: 1, deleted: false };
    collections.get(path)?.set(o.id, o);
    return o;
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    fake.requests.push({ method: req.method ?? 'GET', url: req.url ?? '' });
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return send(res, 401, { error: 'unauthorized' });
    const u = new URL(req.url ?? '/', 'http://x');
    const [, path, id] = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (!path) return send(res, 200, { ok: true });
    const coll = collections.get(path);
    if (!coll) return send(res, 404, { error: 'no such collection' });
    if (!id && req.method === 'GET') {
      const filters = [...u.searchParams].filter(([k]) => k !== 'offset' && k !== 'limit');
      const all = [...coll.values()].filter((o) => filters.every(([k, v]) => String(o[k]) === v));
      const offset = Number(u.searchParams.get('offset') ?? 0);
      const limit = Number(u.searchParams.get('limit') ?? 100);
      return send(res, 200, { items: all.slice(offset, offset + limit) });
    }
    if (!id && req.method === 'POST')
      return send(res, 201, make(path, JSON.parse(await readBody(req)) as Record<string, unknown>));
    const o = id ? coll.get(id) : undefined;
    if (!o) return send(res, 404, { error: 'not found' });
    if (req.method === 'GET') return send(res, 200, o);
    if (req.method === 'PATCH') {
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && ifMatch !== String(o.version)) return send(res, 412, { error: 'version mismatch' });
      Object.assign(o, JSON.parse(await readBody(req)) as Record<string, unknown>, { version: o.version + 1 });
      return send(res, 200, o);
    }
    if (req.method === 'DELETE') {
      // Soft delete, as many ERPs keep the row: it still lists, `deleted: true`.
      Object.assign(o, { deleted: true, version: o.version + 1 });
      res.writeHead(204);
      return res.end();
    }
    return send(res, 405, { error: 'method' });
  });
  const fake: FakeCustomErp = {
    url: '',
    collections,
    requests: [],
    seed: (path, objects) => objects.map((f) => make(path, f)),
    edit(path, id, changes) {
      const o = collections.get(path)?.get(id);
      if (o) Object.assign(o, changes, { version: o.version + 1 });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  return fake;
};

import { randomUUID } from 'node:crypto';
import { ErpError, type ErpObject, type ErpPort } from './port.js';

/**
 * ERP_TEST_MODE: an in-process ERP that keeps what it is sent (per entity set, in memory), with
 * 1C's behaviour where it matters to the sync: GUID keys, a new version on every write, If-Match.
 * Nothing leaves the gateway; `objects` lets a test or an operator see what a push sent.
 */
export const testModeErp = (): ErpPort & { objects: Map<string, Map<string, ErpObject>> } => {
  const objects = new Map<string, Map<string, ErpObject>>();
  let version = 0;
  const setOf = (set: string) => {
    let s = objects.get(set);
    if (!s) {
      s = new Map();
      objects.set(set, s);
    }
    return s;
  };
  const copy = (o: ErpObject): ErpObject => ({ ...o, fields: { ...o.fields } });
  return {
    kind: 'test',
    objects,
    async list(set, { position, pageSize }) {
      const all = [...setOf(set).values()].sort((a, b) => (a.key < b.key ? -1 : 1));
      const skip = Number(position ?? 0);
      const page = all.slice(skip, skip + pageSize).map(copy);
      return { objects: page, ...(skip + pageSize < all.length ? { next: String(skip + pageSize) } : {}) };
    },
    async getMany(set, keys) {
      return keys.flatMap((k) => {
        const o = setOf(set).get(k);
        return o ? [copy(o)] : [];
      });
    },
    async findByAttribute(set, attribute, value) {
      for (const o of setOf(set).values()) if (o.fields[attribute] === value) return copy(o);
      return undefined;
    },
    async create(set, fields) {
      const o: ErpObject = { key: randomUUID(), version: String(++version), deleted: false, fields: { ...fields } };
      setOf(set).set(o.key, o);
      return copy(o);
    },
    async update(set, key, fields, ifVersion) {
      const o = setOf(set).get(key);
      if (!o) throw ErpError.of('not_found', `${set}(${key}) is not there`, false, { status: 404 });
      if (ifVersion !== undefined && ifVersion !== o.version)
        throw ErpError.of('conflict', `${set}(${key}) changed since read`, false, { status: 412 });
      Object.assign(o.fields, fields);
      o.version = String(++version);
      return copy(o);
    },
    async markDeleted(set, key) {
      const o = setOf(set).get(key);
      if (!o) return;
      o.deleted = true;
      o.version = String(++version);
    },
    async post(set, key) {
      const o = setOf(set).get(key);
      if (!o) throw ErpError.of('not_found', `${set}(${key}) is not there`, false, { status: 404 });
      o.fields.Posted = true;
      o.version = String(++version);
      return copy(o);
    },
    async health() {},
  };
};

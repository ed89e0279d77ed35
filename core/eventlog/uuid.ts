import { randomUUID } from 'node:crypto';

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix ms, then random bits. Built on `randomUUID`, which draws
 * from a pooled entropy buffer; the `uuid` package fills a fresh buffer per id, a measurable cost
 * at tens of thousands of ids a second.
 */
export const uuidv7 = (now = Date.now()): string => {
  const r = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx, variant bits already set
  const ts = now.toString(16).padStart(12, '0');
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${r.slice(15)}`;
};

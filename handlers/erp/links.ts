import type { Sql, TransactionSql } from '../../core/stores/postgres.js';
import type { ErpEntity } from '../../schemas/events/erp.js';

/** A row of `erp_links` (018): a record and its ERP object; `erp_key` null = a create of unknown outcome. */
export interface Link {
  entity: ErpEntity;
  crm_id: string;
  gateway_key: string;
  erp_key: string | null;
  erp_version: string | null;
  crm_version: number;
}

type LinkRow = Omit<Link, 'crm_version'> & { crm_version: string };
const fromRow = (r: LinkRow): Link => ({ ...r, crm_version: Number(r.crm_version) });

/** The sync's own working state beside the read models: which record is which ERP object. */
export const linkStore = (sql: Sql) => ({
  async byCrmId(entity: ErpEntity, ids: readonly string[]) {
    if (ids.length === 0) return new Map<string, Link>();
    const rows = await sql<LinkRow[]>`SELECT entity, crm_id, gateway_key, erp_key, erp_version, crm_version FROM erp_links
      WHERE entity = ${entity} AND crm_id = ANY(${ids as string[]})`;
    return new Map(rows.map((r) => [r.crm_id, fromRow(r)]));
  },
  async byErpKey(entity: ErpEntity, keys: readonly string[]) {
    if (keys.length === 0) return new Map<string, Link>();
    const rows = await sql<LinkRow[]>`SELECT entity, crm_id, gateway_key, erp_key, erp_version, crm_version FROM erp_links
      WHERE entity = ${entity} AND erp_key = ANY(${keys as string[]})`;
    return new Map(rows.map((r) => [r.erp_key as string, fromRow(r)]));
  },
  async count(entity: ErpEntity) {
    const [row] = await sql<
      { n: string }[]
    >`SELECT count(*) AS n FROM erp_links WHERE entity = ${entity} AND erp_key IS NOT NULL`;
    return Number(row?.n ?? 0);
  },
  /**
   * Creates about to be sent: a row without an ERP key, so a lost answer is searched for next time.
   * Returns the ids this call marked; one another run marked first is that run's to create.
   */
  async markPending(entity: ErpEntity, items: readonly { crmId: string; gatewayKey: string }[], at: Date) {
    if (items.length === 0) return new Set<string>();
    const rows = await sql<
      { crm_id: string }[]
    >`INSERT INTO erp_links (entity, crm_id, gateway_key, erp_key, erp_version, crm_version, synced_at)
      SELECT ${entity}, c, g, NULL, NULL, 0, ${at}
      FROM unnest(${items.map((i) => i.crmId)}::text[], ${items.map((i) => i.gatewayKey)}::text[]) AS t(c, g)
      ON CONFLICT (entity, crm_id) DO NOTHING RETURNING crm_id`;
    return new Set(rows.map((r) => r.crm_id));
  },
  /** Records deleted in the CRM whose ERP objects are now marked deleted. */
  async remove(tx: TransactionSql, entity: ErpEntity, crmIds: readonly string[]) {
    if (crmIds.length === 0) return;
    await tx`DELETE FROM erp_links WHERE entity = ${entity} AND crm_id = ANY(${crmIds as string[]})`;
  },
  async upsert(tx: TransactionSql, links: readonly Link[], at: Date) {
    if (links.length === 0) return;
    await tx`INSERT INTO erp_links (entity, crm_id, gateway_key, erp_key, erp_version, crm_version, synced_at)
      SELECT e, c, g, k, v, cv, ${at}
      FROM unnest(${links.map((l) => l.entity)}::text[], ${links.map((l) => l.crm_id)}::text[],
                  ${links.map((l) => l.gateway_key)}::text[], ${links.map((l) => l.erp_key) as string[]}::text[],
                  ${links.map((l) => l.erp_version) as string[]}::text[], ${links.map((l) => l.crm_version)}::bigint[])
           AS t(e, c, g, k, v, cv)
      ON CONFLICT (entity, crm_id) DO UPDATE SET gateway_key = EXCLUDED.gateway_key, erp_key = EXCLUDED.erp_key,
        erp_version = EXCLUDED.erp_version, crm_version = EXCLUDED.crm_version, synced_at = EXCLUDED.synced_at`;
  },
});

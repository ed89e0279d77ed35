import { setImmediate as turn } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { ExportPlan } from '../../core/exports/plan.js';
import type { Row } from '../../core/exports/types.js';
import type { Sql } from '../../core/stores/postgres.js';

/** Where an export reads its rows: a count first (for the limit and progress), then batches. */
export interface RowSource {
  count(plan: ExportPlan): Promise<number>;
  /** Rows in batches, at most `limit`, pulled one batch at a time (the writer's pace). */
  rows(plan: ExportPlan, limit: number): AsyncIterable<Row[]>;
}

const BATCH = 1_000;
/** Rows per ClickHouse query when the entity has a keyset: chdb runs a query on the main thread, so a page is also the longest stall. */
const PAGE = 10_000;

/** Postgres: a server-side cursor, so only one batch is ever in memory. */
export const postgresSource = (sql: Sql): RowSource => {
  const where = (plan: ExportPlan) => {
    const conds = [plan.entity.where, ...plan.filters.map((f, i) => `${f.def.expr} ${f.def.op} $${i + 1}`)].filter(Boolean);
    return conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
  };
  return {
    async count(plan) {
      const [row] = await sql.unsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM ${plan.entity.from}${where(plan)}`,
        plan.filters.map((f) => f.value),
      );
      return row?.n ?? 0;
    },
    async *rows(plan, limit) {
      const select = plan.columns.map((c, i) => `${c.expr} AS c${i}`).join(', ');
      const text = `SELECT ${select} FROM ${plan.entity.from}${where(plan)} ORDER BY ${plan.entity.orderBy} LIMIT ${Math.floor(limit)}`;
      const keys = plan.columns.map((_, i) => `c${i}`);
      for await (const batch of sql
        .unsafe<Record<string, unknown>[]>(
          text,
          plan.filters.map((f) => f.value),
        )
        .cursor(BATCH)) {
        yield batch.map((r) => keys.map((k) => r[k]));
        // Lets the API's requests in between batches, however fast the cursor and the file are.
        await turn();
      }
    },
  };
};

/** ClickHouse: the HTTP response streamed row by row; the socket is read only as fast as the file is written. */
export const clickhouseSource = (client: ClickHouseClient, pageRows = PAGE): RowSource => {
  const params = (plan: ExportPlan) => Object.fromEntries(plan.filters.map((f, i) => [`p${i}`, f.value]));
  const where = (plan: ExportPlan) => {
    const conds = [
      plan.entity.where,
      ...plan.filters.map((f, i) =>
        f.def.kind === 'time'
          ? `${f.def.expr} ${f.def.op} parseDateTime64BestEffort({p${i}:String}, 3, 'UTC')`
          : `${f.def.expr} ${f.def.op} {p${i}:String}`,
      ),
    ].filter(Boolean);
    return conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
  };
  return {
    async count(plan) {
      const rs = await client.query({
        query: `SELECT count() AS n FROM ${plan.entity.from}${where(plan)}`,
        query_params: params(plan),
        format: 'JSONEachRow',
      });
      const [row] = await rs.json<{ n: string }>();
      return Number(row?.n ?? 0);
    },
    async *rows(plan, limit) {
      const keyset = plan.entity.keyset ?? [];
      const select = [...plan.columns.map((c) => c.expr), ...keyset.map((k) => k.expr)].join(', ');
      const width = plan.columns.length;
      const base = where(plan);
      let last: unknown[] | undefined;
      let left = Math.floor(limit);
      while (left > 0) {
        const page = keyset.length ? Math.min(pageRows, left) : left;
        const after = last
          ? `(${keyset.map((k) => k.expr).join(', ')}) > (${keyset.map((k, i) => k.cast.replace('{v:', `{k${i}:`)).join(', ')})`
          : '';
        const cond = after ? (base ? `${base} AND ${after}` : ` WHERE ${after}`) : base;
        const rs = await client.query({
          query: `SELECT ${select} FROM ${plan.entity.from}${cond} ORDER BY ${plan.entity.orderBy} LIMIT ${page}`,
          query_params: { ...params(plan), ...Object.fromEntries((last ?? []).map((v, i) => [`k${i}`, String(v)])) },
          format: 'JSONCompactEachRow',
        });
        let got = 0;
        for await (const chunk of rs.stream<unknown[]>()) {
          // chdb hands over a whole answer as one chunk: cut it into batches the writer takes in turn.
          for (let i = 0; i < chunk.length; i += BATCH) {
            const rows = chunk.slice(i, i + BATCH).map((r) => r.json<unknown[]>());
            got += rows.length;
            if (keyset.length && rows.length) last = (rows[rows.length - 1] as unknown[]).slice(width);
            yield keyset.length ? rows.map((r) => r.slice(0, width)) : rows;
            await turn();
          }
        }
        left -= got;
        if (!keyset.length || got < page) return;
      }
    },
  };
};

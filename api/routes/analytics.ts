import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../../core/config.js';
import { AnalyticsQueryRequest, AnalyticsQueryResult } from '../../schemas/http/analytics.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RouteSpec } from '../route.js';

export interface AnalyticsRouteDeps {
  /** From `openAnalyticsClient`: readonly=1 and the row/time limits are the connection's own settings. */
  analytics: ClickHouseClient;
  config: Pick<Config, 'analytics'>;
}

/** A server error parsed by the client (`Code: 164. DB::Exception: … (READONLY)`): numeric code, named type. */
const clickHouseError = (e: unknown): { code: string; type: string; message: string } | undefined => {
  if (!(e instanceof Error)) return undefined;
  const { code, type } = e as Error & { code?: unknown; type?: unknown };
  if (typeof code !== 'string' || !/^\d+$/.test(code)) return undefined;
  return { code, type: typeof type === 'string' ? type : 'UNKNOWN', message: e.message.trim() };
};

/**
 * The analysts' SQL endpoint. Nothing here inspects the SQL: the client's connection runs every
 * statement with readonly=1, `max_result_rows` (limit + 1, overflow `break`) and
 * `max_execution_time`, so ClickHouse itself refuses writes, DDL, SET and file()/url(), and a
 * refusal comes back as a 400 naming ClickHouse's code and type (e.g. READONLY, 164).
 */
export const analyticsRoutes = (deps: AnalyticsRouteDeps): RouteSpec[] => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/analytics/query',
    operationId: 'analyticsQuery',
    summary: 'Run read-only SQL on ClickHouse',
    description:
      'One statement, without a FORMAT clause, over database `fleetgate` (`gps_points`, `gps_daily`, `gps_stops(min_minutes=…)`, `gps_speeding(limit=…)`, `gps_tracking`). Read-only and limited to ANALYTICS_MAX_ROWS rows and ANALYTICS_MAX_SECONDS by ClickHouse settings; `truncated` is set when more rows matched. A query ClickHouse refuses (syntax, read-only, timeout) answers 400 with its error code and type.',
    tags: ['analytics'],
    auth: { scope: 'analytics' },
    body: AnalyticsQueryRequest,
    responses: { 200: { description: 'the rows', schema: AnalyticsQueryResult } },
    handle: async (ctx) => {
      const { maxRows } = deps.config.analytics;
      const started = performance.now();
      const rows: Record<string, unknown>[] = [];
      let truncated = false;
      try {
        const result = await deps.analytics.query({ query: ctx.body.sql, format: 'JSONEachRow' });
        // ClickHouse breaks at a block boundary past max_result_rows: stop reading once one over the limit.
        reading: for await (const chunk of result.stream<Record<string, unknown>>()) {
          for (const row of chunk) {
            if (rows.length === maxRows) {
              truncated = true;
              break reading;
            }
            rows.push(row.json());
          }
        }
        if (truncated) result.close();
      } catch (e) {
        if (e instanceof SyntaxError) {
          // chdb runs `a; b` as two statements and prints both: not one JSONEachRow result.
          throw new HttpProblem('GW_ERR_VALIDATION', 'send one statement without a FORMAT clause', {
            errors: [{ pointer: '/sql', field: 'sql', detail: 'one statement, no FORMAT clause' }],
          });
        }
        const ch = clickHouseError(e);
        if (!ch) throw e;
        ctx.logger.debug({ code: ch.code, type: ch.type }, 'analytics query refused by clickhouse');
        throw new HttpProblem('GW_ERR_VALIDATION', `ClickHouse refused the query: ${ch.type} (${ch.code}): ${ch.message}`, {
          errors: [{ pointer: '/sql', field: 'sql', detail: `${ch.type} (code ${ch.code}): ${ch.message}` }],
        });
      }
      const elapsedMs = Math.round((performance.now() - started) * 10) / 10;
      return { status: 200, body: truncated ? { rows, elapsedMs, truncated } : { rows, elapsedMs } };
    },
  }),
];

import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../../core/config.js';
import { AnalyticsQueryRequest, AnalyticsQueryResult } from '../../schemas/http/analytics.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RouteSpec } from '../route.js';

export interface AnalyticsRouteDeps {
  /** From `openAnalyticsClient`: readonly and the row/time/memory/bytes limits are the connection's own settings. */
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

const refused = (detail: string) =>
  new HttpProblem('GW_ERR_VALIDATION', `the query was refused: ${detail}`, {
    errors: [{ pointer: '/sql', field: 'sql', detail }],
  });

/**
 * What readonly=1 lets through and the gateway must not: `INTO OUTFILE` (chdb writes the file
 * from inside this process, readonly or not) and a `SETTINGS` clause inside a subquery (readonly
 * checks only the outermost one). ClickHouse's own formatter parses the statement, passed as a
 * bound parameter so it can never run, and prints each clause on a line of its own with string
 * literals escaped onto one line: a line starting with the keyword can only be that clause. It
 * also refuses more than one statement, which chdb would otherwise run one after the other.
 */
const checkStatement = async (client: ClickHouseClient, sql: string): Promise<void> => {
  const result = await client.query({
    query: 'SELECT formatQuery({sql:String}) AS formatted',
    query_params: { sql },
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ formatted: string }>();
  const formatted = row?.formatted ?? '';
  // `[ \t]` rather than `\s` after a multiline `^`: `\s` would also walk the newlines from every line
  // start (quadratic on a query of blank lines); formatQuery indents with spaces.
  if (/^[ \t]*INTO\s+OUTFILE\b/im.test(formatted)) throw refused('INTO OUTFILE is not allowed: the rows come back in the answer');
  if (/^[ \t]+SETTINGS\b/im.test(formatted)) throw refused('a SETTINGS clause inside a subquery is not allowed');
};

/** `[{ name, type }]` per column, as ClickHouse's own JSON format names its `meta`. */
const columnsMeta = ([names = [], types = []]: string[][]) => names.map((name, i) => ({ name, type: types[i] ?? '' }));

/** One row as a JSON object; values stay as ClickHouse wrote them (64-bit integers already strings). */
const rowObject = (names: readonly string[], values: readonly unknown[]): string => {
  const row: Record<string, unknown> = {};
  names.forEach((n, i) => {
    row[n] = values[i];
  });
  return JSON.stringify(row);
};

const toProblem = (e: unknown, logger: { debug: (o: object, m: string) => void }): unknown => {
  if (e instanceof SyntaxError) {
    // chdb runs `a; b` as two statements and prints both: not one JSONEachRow result.
    return new HttpProblem('GW_ERR_VALIDATION', 'send one statement without a FORMAT clause', {
      errors: [{ pointer: '/sql', field: 'sql', detail: 'one statement, no FORMAT clause' }],
    });
  }
  const ch = clickHouseError(e);
  if (!ch) return e;
  logger.debug({ code: ch.code, type: ch.type }, 'analytics query refused by clickhouse');
  return new HttpProblem('GW_ERR_VALIDATION', `ClickHouse refused the query: ${ch.type} (${ch.code}): ${ch.message}`, {
    errors: [{ pointer: '/sql', field: 'sql', detail: `${ch.type} (code ${ch.code}): ${ch.message}` }],
  });
};

/**
 * The analysts' SQL endpoint. ClickHouse enforces the rules: the client's connection runs every
 * statement with readonly=1 and the row, time, memory, bytes-read and result-bytes limits (a
 * settings profile and a user that reads only `fleetgate` on a server), so ClickHouse itself
 * refuses writes, DDL, SET and file()/url()/remote()/executable(); a refusal comes back as a 400
 * naming ClickHouse's code and type (e.g. READONLY, 164). The rows are streamed to the client as
 * ClickHouse's lines arrive, cut at ANALYTICS_MAX_ROWS and ANALYTICS_MAX_RESULT_BYTES, after `meta` (the
 * columns' names and ClickHouse types). 64-bit integers come as strings (analyticsSettings).
 */
export const analyticsRoutes = (deps: AnalyticsRouteDeps): RouteSpec[] => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/analytics/query',
    operationId: 'analyticsQuery',
    summary: 'Run read-only SQL on ClickHouse',
    description:
      'One statement, without a FORMAT or INTO OUTFILE clause, over database `fleetgate` (`gps_points`, `gps_daily`, `gps_stops(min_minutes=…)`, `gps_speeding(limit=…)`, `gps_tracking`). Read-only and limited by ClickHouse settings to ANALYTICS_MAX_ROWS rows, ANALYTICS_MAX_RESULT_BYTES bytes of result, ANALYTICS_MAX_SECONDS, ANALYTICS_MAX_MEMORY_BYTES and ANALYTICS_MAX_READ_BYTES; `truncated` is set when more rows matched. The rows are streamed; `elapsedMs` comes after them. 64-bit and wider integers (`UInt64`, `Int64`, `Int128`, `UInt256`, …, e.g. `count()` or `sum(cityHash64(…))`) are JSON strings, exact (ClickHouse setting `output_format_json_quote_64bit_integers`): a JSON number past 2^53 is rounded by JavaScript and most parsers. `meta` lists the names and ClickHouse types before the rows, so a client knows which strings to read as integers. A query ClickHouse refuses (syntax, read-only, a limit) answers 400 with its error code and type.',
    tags: ['analytics'],
    auth: { scope: 'analytics' },
    body: AnalyticsQueryRequest,
    responses: { 200: { description: 'the rows', schema: AnalyticsQueryResult } },
    handle: async (ctx) => {
      const { maxRows, maxResultBytes } = deps.config.analytics;
      const started = performance.now();
      let rows: AsyncIterator<unknown[]>;
      let close: () => void;
      try {
        await checkStatement(deps.analytics, ctx.body.sql);
        // Names and types first, then each row as an array: the types become the answer's `meta`.
        const result = await deps.analytics.query({ query: ctx.body.sql, format: 'JSONCompactEachRowWithNamesAndTypes' });
        rows = result.stream()[Symbol.asyncIterator]();
        close = () => result.close();
      } catch (e) {
        throw toProblem(e, ctx.logger);
      }
      // Refusals that arrive with the first block are still a 400; later ones cut the stream.
      let first: IteratorResult<unknown[]>;
      try {
        first = await rows.next();
      } catch (e) {
        close();
        throw toProblem(e, ctx.logger);
      }
      async function* body(): AsyncGenerator<string> {
        let count = 0;
        let bytes = 0;
        let truncated = false;
        let header: string[][] = [];
        try {
          for (let block = first; !block.done && !truncated; block = await rows.next()) {
            let out = '';
            let lines = block.value as { text: string }[];
            if (header.length < 2) {
              const take = 2 - header.length;
              header = [...header, ...lines.slice(0, take).map((r) => JSON.parse(r.text) as string[])];
              lines = lines.slice(take);
              if (header.length === 2) yield `{"meta":${JSON.stringify(columnsMeta(header))},"rows":[`;
            }
            const names = header[0] ?? [];
            for (const line of lines) {
              const text = rowObject(names, JSON.parse(line.text) as unknown[]);
              bytes += Buffer.byteLength(text) + 1;
              // ClickHouse breaks at a block boundary past max_result_rows/bytes: cut exactly here.
              if (count === maxRows || bytes > maxResultBytes) {
                truncated = true;
                break;
              }
              out += count === 0 ? text : `,${text}`;
              count++;
            }
            // One write per ClickHouse block, not per row.
            if (out) yield out;
          }
        } finally {
          close();
        }
        if (header.length < 2) yield '{"meta":[],"rows":[';
        const elapsedMs = Math.round((performance.now() - started) * 10) / 10;
        yield `],"elapsedMs":${elapsedMs}${truncated ? ',"truncated":true' : ''}}`;
      }
      return { status: 200, stream: body() };
    },
  }),
];

import { type ClickHouseClient, type ClickHouseSettings, createClient } from '@clickhouse/client';
import type { Config } from '../config.js';
import type { ClickHouseStore } from './clickhouse.js';

/**
 * The analysts' limits, sent with every query (chdb has no settings profiles, and a server
 * without CLICKHOUSE_ANALYTICS_USER has only these). `readonly` comes last: chdb sends each entry
 * as a `SET`, and once readonly=1 is on no other setting may change (setting it again to 1 is
 * allowed, so every later query repeats the same SETs harmlessly). `max_result_rows` is one over
 * the API's limit so the route can tell "exactly the limit" from "truncated"; `break` stops
 * reading instead of failing (ClickHouse stops at a block boundary, the route cuts the rest).
 * Memory and bytes read fail the query (TOO_MANY_BYTES, MEMORY_LIMIT_EXCEEDED); the result's
 * bytes break like its rows, and the route cuts at the same byte count while streaming.
 */
export const analyticsSettings = (analytics: Config['analytics'], withReadonly = true): ClickHouseSettings => ({
  max_result_rows: String(analytics.maxRows + 1),
  max_result_bytes: String(analytics.maxResultBytes),
  result_overflow_mode: 'break',
  max_execution_time: analytics.maxSeconds,
  max_memory_usage: String(analytics.maxMemoryBytes),
  max_bytes_to_read: String(analytics.maxReadBytes),
  read_overflow_mode: 'throw',
  // UInt64/Int64 and wider as JSON strings: a JSON number past 2^53 is rounded by JavaScript and
  // most clients' parsers (ClickHouse's own JSON convention; the answer's `meta` names each type).
  output_format_json_quote_64bit_integers: 1,
  ...(withReadonly ? { readonly: '1' as const } : {}),
});

/**
 * A ClickHouse client whose every query runs read-only, enforced by ClickHouse (readonly=1
 * refuses INSERT, DDL, SET and table functions such as file() and url()), with row, time, memory
 * and bytes limits. On a server with CLICKHOUSE_ANALYTICS_USER it connects as that user, whose
 * grants reach only database `fleetgate` and whose profile pins readonly and caps the limits
 * (deploy/clickhouse/analytics_user.sql); readonly is then the profile's, not sent per query
 * (a readonly profile refuses a query that sets it). chdb applies settings to its one session for
 * good (EMBEDDED_STACK.md §2), so this is a separate connection on the same data directory; the
 * main store's connection stays read-write. Open it after `mainStore` (chdb binds the directory
 * on the first connection).
 */
export const openAnalyticsClient = async (
  config: Pick<Config, 'clickhouse' | 'analytics'>,
  mainStore: Pick<ClickHouseStore, 'target'>,
): Promise<ClickHouseStore> => {
  let client: ClickHouseClient;
  if (mainStore.target === 'server') {
    if (!config.clickhouse.url) throw new Error('openAnalyticsClient: the main store is a server but CLICKHOUSE_URL is not set');
    const user = config.analytics.user;
    client = createClient({
      url: config.clickhouse.url,
      ...(user ? { username: user, password: config.analytics.password ?? '' } : {}),
      // The server ends the query at max_execution_time; the socket waits a little longer for its error.
      request_timeout: (config.analytics.maxSeconds + 10) * 1000,
      clickhouse_settings: analyticsSettings(config.analytics, user === undefined),
    });
  } else {
    const { createChdbConnection } = await import('chdb/connection');
    const connection = createChdbConnection({ path: config.clickhouse.chdbDir });
    const clickhouse_settings = analyticsSettings(config.analytics);
    client = createClient({ connection, clickhouse_settings } as Parameters<typeof createClient>[0]);
  }
  return { client, target: mainStore.target, close: () => client.close() };
};

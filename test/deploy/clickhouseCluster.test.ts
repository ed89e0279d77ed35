/**
 * deploy/clickhouse/cluster.sql in the embedded ClickHouse (chdb). chdb has no Keeper, no macros
 * and no <remote_servers>, so ReplicatedReplacingMergeTree and Distributed cannot run in it: every
 * statement is parsed as written (EXPLAIN AST), then run with the engines swapped for ones a
 * single server runs (ON CLUSTER removed, Replicated… → ReplacingMergeTree, Distributed → Merge
 * over the local table). The gateway's own ClickHouse migrations then run on top, as they would
 * against the cluster, and the TTL is kept.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseStore, openClickHouse } from '../../core/stores/clickhouse.js';
import { ttlTarget } from '../../core/stores/gpsTtl.js';
import { splitStatements } from '../../core/stores/migrate.js';
import { tempDir } from '../support/stores.js';

const CLUSTER_SQL = new URL('../../deploy/clickhouse/cluster.sql', import.meta.url);

/** The statements with the engines a lone chdb can run; each swap must have happened. */
const singleServerVersion = (statements: string[]) =>
  statements.map((s) => {
    const swapped = s
      .replace(/ ON CLUSTER '\{cluster\}'/g, '')
      .replace(/ReplicatedReplacingMergeTree\('[^']*', '[^']*', (\w+)\)/, 'ReplacingMergeTree($1)')
      .replace(
        /ENGINE = Distributed\('[^']*', '(\w+)', '(\w+)', [^;]*$/s,
        (_all, db: string, table: string) => `ENGINE = Merge('${db}', '^${table}$')`,
      );
    if (/ON CLUSTER|Replicated|Distributed\(/.test(swapped)) throw new Error(`not swapped: ${swapped.slice(0, 120)}`);
    return swapped;
  });

let dir: Awaited<ReturnType<typeof tempDir>>;
let ch: ClickHouseStore;
let statements: string[];

beforeAll(async () => {
  dir = await tempDir('fg-ch-cluster-');
  ch = await openClickHouse({ chdbDir: join(dir.dir, 'ch') });
  statements = splitStatements(await readFile(CLUSTER_SQL, 'utf8'));
});
afterAll(async () => {
  await ch?.close();
  await dir?.remove();
});

const ast = async (statement: string) =>
  (await ch.client.query({ query: `EXPLAIN AST ${statement}`, format: 'TabSeparatedRaw' })).text();
const rows = async <T>(query: string) => (await (await ch.client.query({ query, format: 'JSONEachRow' })).json()) as T[];

describe('deploy/clickhouse/cluster.sql', () => {
  it('parses as written: a replicated local table with the TTL, a Distributed table in front', async () => {
    expect(statements).toHaveLength(3);
    for (const statement of statements) {
      expect(await ast(statement)).toMatch(/CreateQuery/);
    }
    const local = await ast(statements[1] ?? '');
    expect(local).toContain('Function ReplicatedReplacingMergeTree');
    expect(local).toMatch(/Function toIntervalDay|INTERVAL|Function plus/);
    const front = await ast(statements[2] ?? '');
    expect(front).toContain('Function Distributed');
    expect(front).toContain('Function cityHash64');
  });

  it('a typo is caught by the parse (the check bites)', async () => {
    const broken = statements[1]?.replace('PARTITION BY', 'PARTITON BY') ?? '';
    await expect(ast(broken)).rejects.toThrow(/Syntax error/);
  });

  it('runs with single-server engines: the TTL is kept, points dedupe under FINAL, the gateway migrations and views fit on top', async () => {
    for (const statement of singleServerVersion(statements)) await ch.client.command({ query: statement });
    const tables = await rows<{ name: string; engine: string; engine_full: string }>(
      "SELECT name, engine, engine_full FROM system.tables WHERE database = 'fleetgate' ORDER BY name",
    );
    expect(tables.map((t) => [t.name, t.engine])).toEqual([
      ['gps_tracking', 'Merge'],
      ['gps_tracking_local', 'ReplacingMergeTree'],
    ]);
    expect(tables[1]?.engine_full).toContain('TTL toDateTime(ts) + toIntervalDay(90)');

    const point = {
      device_id: 'van-1',
      ts: Date.now() - 60_000, // inside the 90-day TTL: an older point is dropped as it is written
      lat: 55.7,
      lon: 37.6,
      source: 'mqtt',
      received_at: Date.now(),
    };
    await ch.client.insert({
      table: 'fleetgate.gps_tracking_local',
      values: [
        { ...point, log_seq: 1, event_id: 'e1' },
        { ...point, log_seq: 2, event_id: 'e1' }, // the same point redelivered
      ],
      format: 'JSONEachRow',
    });
    expect(await rows<{ n: number }>('SELECT toUInt32(count()) AS n FROM fleetgate.gps_tracking FINAL')).toEqual([{ n: 1 }]);

    // What the gateway's ClickHouse migrations run (core/stores/migrate.ts): 001 finds gps_tracking
    // there and leaves it, 002 adds the analyst views over it.
    for (const file of ['001_gps_tracking.sql', '002_views.sql']) {
      const text = (await readFile(new URL(`../../schemas/clickhouse/${file}`, import.meta.url), 'utf8')).replaceAll(
        '{retention_days}',
        '90',
      );
      for (const statement of splitStatements(text)) await ch.client.command({ query: statement });
    }
    expect(
      await rows<{ engine: string }>("SELECT engine FROM system.tables WHERE database = 'fleetgate' AND name = 'gps_tracking'"),
    ).toEqual([{ engine: 'Merge' }]);
    expect(await rows<{ n: number }>('SELECT toUInt32(count()) AS n FROM fleetgate.gps_points')).toEqual([{ n: 1 }]);
  });

  it('GPS_STORE_HISTORY_DAYS changes the TTL of the local table behind a Distributed one, ON CLUSTER', () => {
    expect(ttlTarget("Distributed('{cluster}', 'fleetgate', 'gps_tracking_local', cityHash64(device_id))")).toEqual({
      table: 'fleetgate.gps_tracking_local',
      onCluster: '{cluster}',
    });
    expect(ttlTarget('Distributed(fleet, fleetgate, gps_tracking_local, cityHash64(device_id))')).toEqual({
      table: 'fleetgate.gps_tracking_local',
      onCluster: 'fleet',
    });
    expect(ttlTarget('ReplacingMergeTree(log_seq) PARTITION BY toYYYYMMDD(ts) ORDER BY (device_id, ts, event_id)')).toEqual({
      table: 'fleetgate.gps_tracking',
      onCluster: undefined,
    });
  });
});

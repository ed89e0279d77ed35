/**
 * The pure parts of issue 20's gates: which nats-server versions pass NATS_MIN_VERSION, which
 * configurations get the start-up warning about a private ClickHouse copy, and how the readiness
 * monitor turns probes into the intake's yes/no.
 */
import { describe, expect, it } from 'vitest';
import { judgeServerVersion, parseServerVersion } from '../../core/eventlog/jetstream/versionGate.js';
import { createLogger } from '../../core/logger.js';
import { type Readiness, readinessMonitor } from '../../core/readiness.js';
import { startupWarnings } from '../../core/startupWarnings.js';

describe('the NATS version gate', () => {
  it('reads the versions servers announce', () => {
    expect(parseServerVersion('2.9.10')).toEqual([2, 9, 10]);
    expect(parseServerVersion('v2.14.7')).toEqual([2, 14, 7]);
    expect(parseServerVersion('2.11.0-RC.3')).toEqual([2, 11, 0]);
    expect(parseServerVersion('two')).toBeUndefined();
  });

  it('compares by number, not by text (2.10 is newer than 2.9)', () => {
    const gate = (v: string, min: string) => judgeServerVersion(v, { minVersion: min, allowOld: false }).ok;
    expect(gate('2.10.0', '2.9.10')).toBe(true);
    expect(gate('2.9.10', '2.10.0')).toBe(false);
    expect(gate('2.9.10', '2.9.10')).toBe(true);
    expect(gate('2.9.9', '2.9.10')).toBe(false);
    expect(gate('3.0.0', '2.14.0')).toBe(true);
    expect(gate('2.14.0-RC.1', '2.14.0')).toBe(true);
  });

  it('refuses an unreadable or missing version like an old one, and names the way out', () => {
    const v = judgeServerVersion(undefined, { minVersion: '2.9.0', allowOld: false });
    expect(v).toMatchObject({ ok: false, reason: expect.stringContaining('NATS_ALLOW_OLD_SERVER=true') });
    expect(judgeServerVersion('2.9.10', { minVersion: '2.14.0', allowOld: true })).toEqual({
      ok: true,
      version: '2.9.10',
      warning: 'nats-server 2.9.10 is older than NATS_MIN_VERSION 2.14.0; running anyway (NATS_ALLOW_OLD_SERVER=true)',
    });
  });
});

describe('the start-up warning about a private ClickHouse copy', () => {
  const config = (over: {
    eventLog?: 'jetstream' | 'embedded';
    postgres?: 'postgres' | 'pglite';
    ch?: 'server' | 'chdb';
    roles: string[];
  }) => ({
    mode: { eventLog: over.eventLog ?? 'jetstream', postgres: over.postgres ?? 'postgres', clickhouse: over.ch ?? 'chdb' },
    roles: over.roles as never,
    clickhouse: { chdbDir: '/data/ch' },
  });

  it('warns a distributed projections or api process without CLICKHOUSE_URL, naming what it loses', () => {
    const w = startupWarnings(config({ roles: ['projections'] })).clickhouseWarning;
    expect(w).toMatch(/CLICKHOUSE_URL is not set: ClickHouse is a private embedded copy \(chdb in \/data\/ch\)/);
    expect(w).toMatch(/gps_tracking projection/);
    expect(w).not.toMatch(/analytics/);
    expect(startupWarnings(config({ roles: ['api'], eventLog: 'embedded' })).clickhouseWarning).toMatch(/analytics\/query/);
  });

  it('says nothing where nothing is lost: embedded mode, a ClickHouse server, or roles without ClickHouse', () => {
    expect(startupWarnings(config({ roles: ['api', 'projections'], eventLog: 'embedded', postgres: 'pglite' }))).toEqual({});
    expect(startupWarnings(config({ roles: ['api', 'projections'], ch: 'server' }))).toEqual({});
    expect(startupWarnings(config({ roles: ['ingest', 'handlers'] }))).toEqual({});
  });
});

describe('the readiness monitor', () => {
  const logger = createLogger('silent');

  it('answers the intake from the last probe, and adds the configuration notes to every answer', async () => {
    let answer: Readiness = { ready: true, checks: { eventLog: true } };
    const m = readinessMonitor({ probe: async () => answer, logger, intervalMs: 60_000, notes: { clickhouseWarning: 'w' } });
    try {
      expect(m.ready()).toBe(true); // before the first probe: the stores were just opened
      expect(await m.check()).toEqual({ ready: true, checks: { eventLog: true, clickhouseWarning: 'w' } });
      answer = { ready: false, checks: { eventLog: false } };
      await new Promise((r) => setTimeout(r, 1_050)); // past the one-probe-per-second cache
      expect((await m.check()).ready).toBe(false);
      expect(m.ready()).toBe(false);
    } finally {
      m.stop();
    }
  });

  it('a probe that throws is "not ready", with the reason', async () => {
    const m = readinessMonitor({
      probe: async () => {
        throw new Error('connection refused');
      },
      logger,
      intervalMs: 60_000,
    });
    try {
      expect(await m.check()).toEqual({ ready: false, checks: { probe: 'connection refused' } });
      expect(m.ready()).toBe(false);
    } finally {
      m.stop();
    }
  });
});

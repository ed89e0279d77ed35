/**
 * RELIABILITY.md T23 against our real NATS configuration (deploy/nats/users.conf) on the machine's
 * nats-server: an unauthenticated or wrongly authenticated client is refused; each role's user
 * can do what its role does and is denied the JetStream API subjects it does not need (stream
 * delete and purge, account purge — CVE-2025-30215 —, server and meta administration, other
 * roles' subjects); and the version gate refuses a server older than NATS_MIN_VERSION.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { errors, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JetStreamConfig, jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { isGatewayError } from '../../schemas/errors.js';
import { type NatsWithUsers, type RoleUser, startNatsWithUsers } from './natsServerWithUsers.js';

let server: NatsWithUsers;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  server = await startNatsWithUsers();
});
afterAll(async () => {
  for (const c of opened.reverse()) await c.close().catch(() => {});
  await server?.close();
});

const logConfig = (role: RoleUser): JetStreamConfig => ({
  servers: server.url,
  replicas: 1,
  eventsMaxAgeMs: 0,
  gpsMaxAgeMs: 3_600_000,
  dlqMaxAgeMs: 0,
  duplicateWindowMs: 60_000,
  gpsDuplicateWindowMs: 10_000,
  timeoutMs: 2_000,
  ...server.user(role),
});
const openLog = async (role: RoleUser): Promise<EventLog> => {
  const log = await jetStreamEventLog(logConfig(role));
  opened.push(log);
  return log;
};
const rawConnection = async (role: RoleUser): Promise<NatsConnection> => {
  const nc = await connect({ servers: server.url, timeout: 2_000, ...server.user(role) });
  opened.push({ close: () => nc.close() });
  return nc;
};
/** A JetStream API request as a raw client would send it; the server's answer or the client's error. */
const apiRequest = async (nc: NatsConnection, subject: string, body = '') =>
  nc.request(subject, body, { timeout: 2_000 }).then(
    (m) => ({ answered: m.json<{ error?: { code: number } }>() }),
    (e: unknown) => ({ refused: e }),
  );
const denied = (outcome: { refused?: unknown; answered?: unknown }) =>
  outcome.refused instanceof errors.PermissionViolationError ||
  (outcome.refused instanceof Error && /permissions? violation/i.test(`${outcome.refused.message} ${outcome.refused.cause}`));

const gpsPoint = (id: string) =>
  newEvent({ type: 'gps.reported', subject: `gps.${id}`, source: 'test', data: { deviceId: id, lat: 1, lon: 2 } as never });

describe('T23: NATS users and permissions from deploy/nats/users.conf', () => {
  it('refuses a client without credentials or with a wrong password (no anonymous access)', async () => {
    await expect(connect({ servers: server.url, timeout: 2_000 })).rejects.toThrow(/Authorization Violation/i);
    await expect(connect({ servers: server.url, timeout: 2_000, user: 'fleetgate_ingest', pass: 'wrong' })).rejects.toThrow(
      /Authorization Violation/i,
    );
  });

  it('ingest: appends positions, and is denied stream delete, purge, account purge, server and meta APIs, and dead letters', async () => {
    const log = await openLog('ingest'); // creates the streams as every process does at start
    await log.append('gps.van-1', [gpsPoint('van-1')]);
    expect(await log.lastSeq('GPS')).toBe(1);

    const nc = await rawConnection('ingest');
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await expect(jsm.streams.delete('GPS')).rejects.toThrow(/permissions? violation/i);
    await expect(jsm.streams.purge('GPS')).rejects.toThrow(/permissions? violation/i);
    for (const subject of [
      '$JS.API.ACCOUNT.PURGE.$G', // CVE-2025-30215
      '$JS.API.SERVER.REMOVE',
      '$JS.API.META.LEADER.STEPDOWN',
      '$JS.API.STREAM.LEADER.STEPDOWN.GPS',
      '$JS.API.STREAM.MSG.DELETE.GPS',
    ]) {
      expect(denied(await apiRequest(nc, subject, JSON.stringify({ seq: 1 }))), subject).toBe(true);
    }
    await expect(jetstream(nc).publish('dlq.someone', 'x', { timeout: 2_000 })).rejects.toThrow(/permissions? violation/i);
    // The stream is still there, with its point.
    expect((await jsm.streams.info('GPS')).state.messages).toBe(1);
  });

  it('projections: reads and acknowledges through a durable consumer, but appends nothing', async () => {
    const ingest = await openLog('ingest');
    await ingest.append('evt.device.van-2', [
      newEvent({ type: 'device.registered', subject: 'evt.device.van-2', source: 'test', data: { id: 'van-2' } as never }),
    ]);
    const log = await openLog('projections');
    const seen = await log.read('EVENTS', 10);
    expect(seen.map((m) => m.events[0]?.subject)).toContain('evt.device.van-2');
    await expect(
      log.append('evt.device.van-3', [
        newEvent({ type: 'device.registered', subject: 'evt.device.van-3', source: 'test', data: { id: 'van-3' } as never }),
      ]),
    ).rejects.toSatisfy(
      (e) => isGatewayError(e, 'GW_ERR_LOG_UNAVAILABLE') && /permissions? violation/i.test(String((e as Error).cause)),
    );
    const nc = await rawConnection('projections');
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await expect(jsm.streams.delete('EVENTS')).rejects.toThrow(/permissions? violation/i);
  });

  it('api: may remove a dead letter (DLQ), not a position or an event', async () => {
    const nc = await rawConnection('api');
    expect(denied(await apiRequest(nc, '$JS.API.STREAM.MSG.DELETE.GPS', JSON.stringify({ seq: 1 })))).toBe(true);
    expect(denied(await apiRequest(nc, '$JS.API.STREAM.MSG.DELETE.EVENTS', JSON.stringify({ seq: 1 })))).toBe(true);
    // Allowed: the JetStream API answers (with an error: DLQ is empty), not the permission check.
    const dlq = await apiRequest(nc, '$JS.API.STREAM.MSG.DELETE.DLQ', JSON.stringify({ seq: 1 }));
    expect(denied(dlq)).toBe(false);
    expect(dlq).toMatchObject({ answered: { error: { code: expect.any(Number) } } });
  });

  it('admin (CLI, several roles in one process): every role subject, still no stream deletion or account purge', async () => {
    const log = await openLog('admin');
    await log.append('gps.van-9', [gpsPoint('van-9')]);
    const nc = await rawConnection('admin');
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await expect(jsm.streams.delete('GPS')).rejects.toThrow(/permissions? violation/i);
    expect(denied(await apiRequest(nc, '$JS.API.ACCOUNT.PURGE.$G'))).toBe(true);
  });
});

describe('T23: the operator user (natscli backups, purges, peer changes)', () => {
  it('may administer fleetgate’s streams, never the account or the servers', async () => {
    const nc = await rawConnection('operator');
    const info = await apiRequest(nc, '$JS.API.STREAM.INFO.DLQ');
    expect(info).toMatchObject({ answered: { config: { name: 'DLQ' } } });
    const purge = await apiRequest(nc, '$JS.API.STREAM.PURGE.DLQ');
    expect(purge).toMatchObject({ answered: { success: true } });
    expect(denied(await apiRequest(nc, '$JS.API.ACCOUNT.PURGE.$G'))).toBe(true);
    expect(denied(await apiRequest(nc, '$JS.API.SERVER.REMOVE'))).toBe(true);
  });
});

describe('T23: the version gate', () => {
  it('refuses the machine’s nats-server 2.9.10 when NATS_MIN_VERSION is newer, naming both versions', async () => {
    const e = await jetStreamEventLog({ ...logConfig('admin'), minServerVersion: '2.10.27' }).catch((err: unknown) => err);
    expect(isGatewayError(e, 'GW_ERR_CONFIG')).toBe(true);
    expect((e as Error).message).toMatch(/nats-server 2\.9\.\d+ is older than NATS_MIN_VERSION 2\.10\.27/);
    expect((e as Error).message).toContain('NATS_ALLOW_OLD_SERVER=true');
  });

  it('runs on it with NATS_ALLOW_OLD_SERVER, saying so; and at the default minimum (2.9.0) without a word', async () => {
    const warnings: string[] = [];
    const allowed = await jetStreamEventLog(
      { ...logConfig('admin'), minServerVersion: '2.10.27', allowOldServer: true },
      { warn: (m) => warnings.push(m) },
    );
    opened.push(allowed);
    expect(warnings).toEqual([expect.stringMatching(/older than NATS_MIN_VERSION 2\.10\.27; running anyway/)]);
    expect(await allowed.ping()).toBe(true);
    const quiet: string[] = [];
    opened.push(await jetStreamEventLog({ ...logConfig('admin'), minServerVersion: '2.9.0' }, { warn: (m) => quiet.push(m) }));
    expect(quiet).toEqual([]);
  });
});

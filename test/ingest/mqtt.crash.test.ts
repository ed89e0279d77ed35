/**
 * T13: a QoS 1 PUBACK means the point is durable. The ingest runs in a child process over a real
 * Postgres database; a device publishes QoS 1 points with ids, and the child is SIGKILLed the
 * moment a PUBACK arrives, several times. mqtt.js reconnects to the restarted child and resends
 * what was not acknowledged. Every id ever PUBACKed must be in the log.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceRegistry } from '../../core/devices/registry.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { locationTopic } from '../../ingest/mqtt/broker.js';
import { stablePort } from '../support/natsServer.js';
import { freshPostgresDb } from '../support/stores.js';
import { fix, gpsEvents } from './harness.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOTAL = 3_000;
const KILLS = 6;

let db: Awaited<ReturnType<typeof freshPostgresDb>>;
beforeAll(async () => {
  db = await freshPostgresDb();
}, 60_000);
afterAll(() => db?.close());

/** `node --import tsx`, not `npx tsx`: the tsx CLI runs the script in a grandchild that a SIGKILL of our child would miss. */
const startIngest = (port: number) =>
  new Promise<ChildProcess>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/mqttIngestProcess.ts'], {
      cwd: ROOT,
      env: { ...process.env, INGEST_DATABASE_URL: db.url, INGEST_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      if (c.includes('ready ')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`ingest exited (${code}) before ready:\n${err}`)));
  });

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));

describe('MQTT QoS 1 durability across kill -9 (T13)', () => {
  it('finds every PUBACKed point in the log after the gateway is killed right after PUBACKs', async () => {
    const token = (await deviceRegistry(db.sql).create({ id: 'crash-1' })).token;
    // The gateway comes back on the same port after each kill: keep it out of the ephemeral range.
    const port = await stablePort();
    let child = await startIngest(port);

    const acked = new Set<string>();
    let pubacks = 0;
    let kills = 0;
    let killAt = 50 + Math.floor(Math.random() * 300);
    let restarting: Promise<void> = Promise.resolve();
    let restarted = true;
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      clientId: 'crash-1',
      username: 'crash-1',
      password: token,
      clean: false,
      reconnectPeriod: 100,
    });
    client.on('error', () => {});
    client.on('packetreceive', (packet) => {
      // `restarted` false: the new gateway PUBACKed before its `ready` line reached us; `child`
      // still names the dead one, so wait for the next PUBACK rather than "kill" it again.
      if (packet.cmd !== 'puback' || kills >= KILLS || ++pubacks < killAt || !restarted) return;
      restarted = false;
      // On the wire, right after this PUBACK: the gateway dies before anything else it does.
      child.kill('SIGKILL');
      kills++;
      killAt = pubacks + 50 + Math.floor(Math.random() * 500);
      const dead = child;
      restarting = exited(dead).then(async () => {
        child = await startIngest(port);
        restarted = true;
      });
    });
    await new Promise<void>((r) => client.once('connect', () => r()));

    const t0 = performance.now();
    await Promise.all(
      Array.from(
        { length: TOTAL },
        (_, i) =>
          new Promise<void>((resolve, reject) =>
            client.publish(
              locationTopic('crash-1'),
              JSON.stringify(fix({ id: `c-${i}`, ts: 1_750_000_000_000 + i })),
              { qos: 1 },
              (e) => {
                if (e) return reject(e);
                acked.add(`c-${i}`);
                resolve();
              },
            ),
          ),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    await restarting;
    client.end(true);
    child.kill('SIGTERM');
    await exited(child);

    const log = embeddedEventLog(db.sql);
    const events = await gpsEvents(log);
    const stored = new Set(events.map((e) => e.data.pointId));
    const lost = [...acked].filter((id) => !stored.has(id));
    const duplicates = events.length - stored.size;
    console.log(
      `T13: ${TOTAL} QoS 1 points, ${kills} kills, ${acked.size} PUBACKed, lost after PUBACK ${lost.length}, ` +
        `stored twice ${duplicates} (same event id), ${seconds.toFixed(1)} s`,
    );
    expect(kills).toBe(KILLS);
    expect(lost).toEqual([]);
    expect(acked.size).toBe(TOTAL);
    // A duplicate row is a point stored but not acknowledged before the kill, then resent: same event id.
    const idsByPoint = new Map<string, Set<string>>();
    for (const e of events)
      idsByPoint.set(e.data.pointId as string, (idsByPoint.get(e.data.pointId as string) ?? new Set()).add(e.id));
    expect([...idsByPoint.values()].every((ids) => ids.size === 1)).toBe(true);
    await log.close();
  }, 120_000);
});

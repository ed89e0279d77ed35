/**
 * Crash test of the event log (core issue): a child process appends 10,000 events and reports
 * each ack; the parent SIGKILLs it mid-way; after a restart (the child again, re-sending every id
 * from 0 with the same msgId) every acknowledged id is in the log exactly once – per adapter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { jetStreamEventLog } from '../../core/eventlog/jetstream.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { openPostgres, type PostgresConfig } from '../../core/stores/postgres.js';
import { type CrashAdapter, crashEventId, crashJetStreamConfig } from '../support/crashAppender.js';
import { startNatsServer } from '../support/natsServer.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';

const TOTAL = 10_000;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = 'test/support/crashAppender.ts';

interface Run {
  child: ChildProcess;
  /** Every complete stdout line so far (event ids, then `done …`). */
  lines: string[];
  stderr: () => string;
  /** Resolves once the process exited and its stdout is fully read. */
  finished: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runAppender = (adapter: CrashAdapter, target: string, onLine?: (line: string, count: number) => void): Run => {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    cwd: ROOT,
    env: { ...process.env, CRASH_ADAPTER: adapter, CRASH_TARGET: target, CRASH_TOTAL: String(TOTAL), CRASH_START: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(line);
      onLine?.(line, lines.length);
      nl = buf.indexOf('\n');
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (err.length < 64_000) err += chunk;
  });
  // 'close' comes after 'exit' and after stdout/stderr ended: every line the child got into the
  // pipe before it died has been read. A partial last line (cut by the kill) stays in `buf`.
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, lines, stderr: () => err, finished };
};

interface Ack {
  id: string;
  seq: number;
  duplicate: boolean;
}

/** `<id> <seq> <new|dup>` lines of the appender; its final `done …` line is not an ack. */
const parseAcks = (lines: readonly string[]): Ack[] =>
  lines
    .filter((l) => !l.startsWith('done '))
    .map((l) => {
      const m = /^(00000000-0000-7000-8000-\d{12}) (\d+) (new|dup)$/.exec(l);
      if (!m) throw new Error(`unexpected appender line "${l}"`);
      return { id: m[1] as string, seq: Number(m[2]), duplicate: m[3] === 'dup' };
    });

/** Every message of EVENTS, read in pages: the sequences under which each event id is stored. */
const readLog = async (t: Target) => {
  const { log, close } = await t.open();
  const seqsById = new Map<string, number[]>();
  let messages = 0;
  try {
    let fromSeq = 1;
    for (;;) {
      const page = await log.read('EVENTS', 1_000, { fromSeq });
      for (const m of page) {
        messages++;
        expect(m.events).toHaveLength(1);
        expect(m.msgId).toBe(m.events[0]?.id);
        for (const e of m.events) seqsById.set(e.id, [...(seqsById.get(e.id) ?? []), m.seq]);
      }
      if (page.length < 1_000) break;
      fromSeq = (page[page.length - 1]?.seq ?? 0) + 1;
    }
  } finally {
    await close();
  }
  return { seqsById, messages };
};

/** Ids stored more than once, and acks whose id is not stored exactly once under the acked seq. */
const check = (seqsById: ReadonlyMap<string, number[]>, acks: readonly Ack[]) => ({
  duplicated: [...seqsById].filter(([, seqs]) => seqs.length > 1).map(([id, seqs]) => `${id} at ${seqs.join(',')}`),
  lost: acks.filter((a) => !seqsById.has(a.id)).map((a) => `${a.id} acked at ${a.seq}`),
  misplaced: acks
    .filter((a) => seqsById.has(a.id) && seqsById.get(a.id)?.join() !== String(a.seq))
    .map((a) => `${a.id} acked at ${a.seq}, stored at ${seqsById.get(a.id)?.join(',')}`),
});

interface Target {
  adapter: CrashAdapter;
  /** What the child connects to / opens. */
  target: string;
  /** Opens the log in this process; only called once no child is alive (PGlite: one process). */
  open(): Promise<{ log: EventLog; close(): Promise<void> }>;
}

/** The embedded log on its own store, closed together. */
const openEmbedded = async (cfg: PostgresConfig) => {
  const store = await openPostgres(cfg);
  const log = embeddedEventLog(store.sql);
  return {
    log,
    close: async () => {
      await log.close();
      await store.close();
    },
  };
};

const cleanups: (() => Promise<void>)[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const crashAndRestart = async (t: Target) => {
  const t0 = Date.now();
  // Kill at a random point between 1,500 and 6,000 acks read by the parent.
  const killAt = 1_500 + Math.floor(Math.random() * 4_500);
  let firstAckMs = 0;
  const first = runAppender(t.adapter, t.target, (_line, n) => {
    if (n === 1) firstAckMs = Date.now() - t0;
    if (n === killAt) first.child.kill('SIGKILL');
  });
  children.push(first.child);
  const firstExit = await first.finished;
  const tKilled = Date.now();
  if (firstExit.signal !== 'SIGKILL') {
    throw new Error(`first run was not killed (exit ${firstExit.code}, ${first.lines.length} lines):\n${first.stderr()}`);
  }
  const acked = parseAcks(first.lines);
  expect(first.lines.some((l) => l.startsWith('done '))).toBe(false); // killed mid-way…
  expect(acked.length).toBeGreaterThanOrEqual(killAt);
  expect(acked.length).toBeLessThan(TOTAL); // …before it acked everything
  expect(new Set(acked.map((a) => a.id)).size).toBe(acked.length);
  expect(acked.filter((a) => a.duplicate)).toEqual([]); // a fresh log: nothing to dedupe yet

  // Before the restart re-sends anything: every acked id is stored, once, under its acked seq.
  const afterKill = await readLog(t);
  expect(check(afterKill.seqsById, acked)).toEqual({ duplicated: [], lost: [], misplaced: [] });
  const ackedIds = new Set(acked.map((a) => a.id));
  const storedUnacked = [...afterKill.seqsById.keys()].filter((id) => !ackedIds.has(id)).length;
  const tChecked = Date.now();

  // "After restart": the same appender again, every id from 0 (stored ones are re-sent with their msgId).
  const second = runAppender(t.adapter, t.target);
  children.push(second.child);
  const secondExit = await second.finished;
  const tRestarted = Date.now();
  if (secondExit.code !== 0) {
    throw new Error(`restarted run failed (exit ${secondExit.code} ${secondExit.signal}):\n${second.stderr()}`);
  }
  const done = second.lines.at(-1) ?? '';
  expect(done).toBe(`done ${TOTAL} ${afterKill.messages}`); // exactly what was stored came back as duplicates
  const resent = parseAcks(second.lines);
  expect(resent).toHaveLength(TOTAL);
  const resentById = new Map(resent.map((a) => [a.id, a]));
  expect(resentById.size).toBe(TOTAL);
  // Every id acked before the kill was recognised as a duplicate of the original message.
  const notDeduped = acked
    .filter((a) => resentById.get(a.id)?.duplicate !== true || resentById.get(a.id)?.seq !== a.seq)
    .map((a) => `${a.id} acked at ${a.seq}, re-sent: ${JSON.stringify(resentById.get(a.id))}`);
  expect(notDeduped).toEqual([]);

  // Finally: every acked id exactly once; every one of the 10,000 ids exactly once; nothing else.
  const final = await readLog(t);
  expect(check(final.seqsById, acked)).toEqual({ duplicated: [], lost: [], misplaced: [] });
  expect(check(final.seqsById, resent)).toEqual({ duplicated: [], lost: [], misplaced: [] });
  const expected = new Set(Array.from({ length: TOTAL }, (_, i) => crashEventId(i)));
  expect([...expected].filter((id) => !final.seqsById.has(id))).toEqual([]);
  expect([...final.seqsById.keys()].filter((id) => !expected.has(id))).toEqual([]);
  expect(final.messages).toBe(TOTAL);

  const timing = {
    adapter: t.adapter,
    killAt,
    ackedBeforeKill: acked.length,
    storedUnacked,
    firstAckMs,
    firstRunMs: tKilled - t0,
    checkAfterKillMs: tChecked - tKilled,
    restartMs: tRestarted - tChecked,
    finalCheckMs: Date.now() - tRestarted,
  };
  console.log(`crash test ${JSON.stringify(timing)}`);
  return timing;
};

describe('event log crash: acknowledged appends survive a SIGKILL of the appender', () => {
  it('jetstream', async () => {
    const server = await startNatsServer();
    cleanups.push(server.stop);
    await crashAndRestart({
      adapter: 'jetstream',
      target: server.url,
      open: async () => {
        const log = await jetStreamEventLog(crashJetStreamConfig(server.url));
        return { log, close: () => log.close() };
      },
    });
  }, 120_000);

  it('embedded on PGlite', async () => {
    const t = await tempDir('fg-crash-pglite-');
    cleanups.push(t.remove);
    const dir = join(t.dir, 'pg');
    await crashAndRestart({
      adapter: 'pglite',
      target: dir,
      open: () => openEmbedded({ pgliteDir: dir, poolMax: 1 }),
    });
  }, 120_000);

  it('embedded on Postgres', async () => {
    const db = await freshPostgresDb();
    cleanups.push(db.close);
    await crashAndRestart({
      adapter: 'postgres',
      target: db.url,
      open: () => openEmbedded({ databaseUrl: db.url, pgliteDir: '', poolMax: 2 }),
    });
  }, 120_000);
});

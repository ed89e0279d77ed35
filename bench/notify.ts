/**
 * `npm run bench -- notify`: mixed notifications (SMS through SMS.ru and Twilio, e-mail from
 * templates and plain, push to users with 1-3 devices, Telegram) through the gateway's queue to the
 * providers' fakes, which run in this process: the gateway (`fleetgate start --roles
 * api,projections,handlers`, live mode, every provider pointed at its fake) is the real process.
 *
 * Each notification carries a unique marker (in the SMS and Telegram text, the e-mail address, the
 * push data), so the moment its fake took it can be matched with the moment its POST was sent:
 * "request→provider call" is that span, on this process's clock. A push to a user counts when
 * every one of the user's devices got it.
 *
 * - Phase 1, not backlogged: a fixed rate (default 200/s for 10 s): p50/p99 per channel.
 * - Phase 2, all at once: N (default 10,000) POSTs as fast as the API takes them at 64 in flight:
 *   notifications/s from the first request to the last provider call, p50/p99, and the queue depth
 *   (`GET /api/v1/notifications/queue`, every 500 ms) over time.
 * Every notification must reach its fake exactly once (duplicates and missing ones are reported).
 *
 * The limit that stays on: Telegram's one message per second per chat (the bench spreads messages
 * over many chats). The bot-wide limit is raised to 1000/s (paid broadcasts), the SMS guards and
 * rate limit are off; the tuning is printed with the results.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../core/paths.js';
import { type FakeFcm, startFakeFcm, writeServiceAccount } from '../test/fakes/fcm.js';
import { type FakeSmsRu, startFakeSmsRu } from '../test/fakes/smsru.js';
import { type FakeSmtp, startFakeSmtp } from '../test/fakes/smtp.js';
import { type FakeTelegram, startFakeTelegram } from '../test/fakes/telegram.js';
import { type FakeTwilio, startFakeTwilio } from '../test/fakes/twilio.js';
import { ADMIN_KEY, startGateway, stop } from './api.js';
import { type BenchFigure, type BenchResult, type BenchSeries, judge } from './results.js';
import { createScratchDatabase, fmtInt, fmtMs, pool, startNatsServer, table, tempDir } from './support.js';

const CHANNELS = ['sms', 'email', 'push', 'telegram'] as const;
type Channel = (typeof CHANNELS)[number];
type Kind = 'smsru' | 'twilio' | 'email-template' | 'email-plain' | 'push' | 'telegram';
const channelOf: Record<Kind, Channel> = {
  smsru: 'sms',
  twilio: 'sms',
  'email-template': 'email',
  'email-plain': 'email',
  push: 'push',
  telegram: 'telegram',
};
/** 40 % SMS (30 SMS.ru, 10 Twilio), 30 % e-mail (20 template, 10 plain), 20 % push, 10 % Telegram. */
let MIX: readonly Kind[] = [
  'smsru',
  'smsru',
  'smsru',
  'twilio',
  'email-template',
  'email-template',
  'email-plain',
  'push',
  'push',
  'telegram',
];

const SMSRU_KEY = 'bench-smsru-api-id';
const TWILIO_SID = `AC${'b'.repeat(32)}`;
const TWILIO_TOKEN = 'bench-twilio-token';
const SMTP_USER = 'bench';
const SMTP_PASSWORD = 'bench-smtp-password';
const BOT_TOKEN = '7000000001:bench-bot-token';
const POLL_MS = 500;

// ---------------------------------------------------------------------------------------------
// /proc (as in gps.ts)

const CLK_TCK = 100;
const cpuSeconds = (pid: number, tid?: number) => {
  const s = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
};
const rssMiB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
};
const machineBusySeconds = () => {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
};
/** The gateway's children (the PGlite worker is a thread, nats-server a separate process). */
const childPids = (pid: number) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => {
      try {
        const s = readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    });

/** CPU-seconds of each thread of `pid` (`/proc/<pid>/task`): the main thread is the one whose id is `pid`. */
const threadCpuSeconds = (pid: number): Map<number, number> => {
  const out = new Map<number, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(t), cpuSeconds(pid, Number(t)));
    } catch {}
  }
  return out;
};

/**
 * Backends of database `db` on the machine's Postgres: their process title names the database
 * (`postgres: 15/main: postgres <db> 127.0.0.1(…) idle`). Shared helpers (WAL writer,
 * checkpointer) serve every database on the server and are left out.
 */
const postgresBackends = (db: string): number[] =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return (
          readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres' &&
          readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(` ${db} `)
        );
      } catch {
        return false;
      }
    })
    .map(Number);

interface CpuSpan {
  serverCpuPercent: number;
  auxCpuPercent: number;
  benchCpuPercent: number;
  otherCpuPercent: number;
  serverPeakRssMiB: number;
  /** Wall time the span covered. */
  seconds: number;
  /** CPU-seconds in the span: the gateway process(es) all-in, then split by thread; nats-server; Postgres backends. */
  cpuSeconds: {
    gateway: number;
    /** The gateway's main (event-loop) threads. */
    gatewayMain: number;
    /** Its other threads: the PGlite worker (embedded), V8's GC and compiler helpers, libuv's pool. */
    gatewayOther: number;
    /** The busiest of those other threads alone (the PGlite worker, in embedded mode). */
    gatewayBusiestOther: number;
    nats: number;
    /** Backends of the gateway's database on the machine's Postgres; undefined in embedded mode (PGlite is a gateway thread). */
    postgres: number | undefined;
  };
}

/** CPU of the gateway process(es), of nats-server (`aux`), of the Postgres backends of `db`, of this process, and of everyone else. */
const watchCpu = (servers: number[], aux: number[], db?: string) => {
  const t0 = performance.now();
  const serverSeconds = () => servers.reduce((n, p) => n + cpuSeconds(p), 0);
  const serverRss = () => servers.reduce((n, p) => n + rssMiB(p), 0);
  const safeCpu = (p: number) => {
    try {
      return cpuSeconds(p);
    } catch {
      return undefined;
    }
  };
  const s0 = serverSeconds();
  const th0 = servers.map(threadCpuSeconds);
  const a0 = aux.map((p) => safeCpu(p) ?? 0);
  /** Each backend's CPU when first seen (0 for one that started during the span) and when last seen. */
  const backends = new Map<number, { first: number; last: number }>();
  const seeBackends = (first: boolean) => {
    if (db === undefined) return;
    for (const p of postgresBackends(db)) {
      const now = safeCpu(p);
      if (now === undefined) continue;
      const b = backends.get(p);
      if (b) b.last = now;
      else backends.set(p, { first: first ? now : 0, last: now });
    }
  };
  seeBackends(true);
  const b0 = process.cpuUsage();
  const m0 = machineBusySeconds();
  let peak = serverRss();
  let ticks = 0;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, serverRss());
    } catch {}
    // A backend that exits keeps what it used up to the last look (postgres.js keeps its connections).
    if (++ticks % 5 === 0) seeBackends(false);
  }, 100);
  return (): CpuSpan => {
    clearInterval(timer);
    seeBackends(false);
    const secs = (performance.now() - t0) / 1000;
    const pct = (x: number) => (x / secs) * 100;
    const gateway = serverSeconds() - s0;
    let gatewayMain = 0;
    let gatewayBusiestOther = 0;
    servers.forEach((pid, i) => {
      const before = th0[i] as Map<number, number>;
      for (const [tid, now] of threadCpuSeconds(pid)) {
        const used = now - (before.get(tid) ?? 0);
        if (tid === pid) gatewayMain += used;
        else gatewayBusiestOther = Math.max(gatewayBusiestOther, used);
      }
    });
    const nats = aux.reduce((n, p, i) => n + (safeCpu(p) ?? a0[i] ?? 0) - (a0[i] ?? 0), 0);
    const postgres = db === undefined ? undefined : [...backends.values()].reduce((n, b) => n + b.last - b.first, 0);
    const b = process.cpuUsage(b0);
    const benchCpu = pct((b.user + b.system) / 1e6);
    const machine = pct(machineBusySeconds() - m0);
    return {
      serverCpuPercent: pct(gateway),
      auxCpuPercent: pct(nats),
      benchCpuPercent: benchCpu,
      // Postgres backends stay in "other" here, as before: the machine budget scales them with the rest.
      otherCpuPercent: Math.max(0, machine - pct(gateway) - pct(nats) - benchCpu),
      serverPeakRssMiB: peak,
      seconds: secs,
      cpuSeconds: {
        gateway,
        gatewayMain,
        // Threads that ended during the span (none in steady state) are in `gateway` only.
        gatewayOther: Math.max(0, gateway - gatewayMain),
        gatewayBusiestOther,
        nats,
        postgres,
      },
    };
  };
};

// ---------------------------------------------------------------------------------------------
// Tracking: marker → when it was asked for, when its fake(s) got it

interface Tracked {
  kind: Kind;
  sentAt: number;
  /** Provider calls this notification needs (a push: one per device of the user). */
  expected: number;
  got: number;
  doneAt: number | undefined;
  status: number | undefined;
}

class Tracker {
  readonly items = new Map<string, Tracked>();
  duplicates = 0;
  unknown = 0;
  done = 0;
  /** Per push marker, the tokens that already got it (a second call to one is a duplicate). */
  private readonly pushTokens = new Map<string, Set<string>>();

  add(marker: string, kind: Kind, expected: number) {
    const t: Tracked = { kind, sentAt: performance.now(), expected, got: 0, doneAt: undefined, status: undefined };
    this.items.set(marker, t);
    return t;
  }

  arrived(marker: string | undefined, token?: string) {
    const now = performance.now();
    const t = marker === undefined ? undefined : this.items.get(marker);
    if (!t || marker === undefined) {
      this.unknown += 1;
      return;
    }
    if (token !== undefined) {
      const seen = this.pushTokens.get(marker) ?? new Set<string>();
      this.pushTokens.set(marker, seen);
      if (seen.has(token)) {
        this.duplicates += 1;
        return;
      }
      seen.add(token);
    }
    t.got += 1;
    if (t.got > t.expected) {
      this.duplicates += 1;
      return;
    }
    if (t.got === t.expected) {
      t.doneAt = now;
      this.done += 1;
    }
  }
}

const MARKER = /\bfgb(\d+)x(\d+)\b/;
const markerOf = (s: string | undefined) => {
  const m = s === undefined ? null : MARKER.exec(s);
  return m ? m[0] : undefined;
};

/** Calls `hook` with every item pushed onto `arr` (the fakes keep plain arrays of what they took). */
const onPush = <T>(arr: T[], hook: (item: T) => void) => {
  const push = arr.push.bind(arr);
  arr.push = (...items: T[]) => {
    for (const i of items) hook(i);
    return push(...items);
  };
};

interface Fakes {
  smsru: FakeSmsRu;
  twilio: FakeTwilio;
  smtp: FakeSmtp;
  fcm: FakeFcm;
  telegram: FakeTelegram;
  serviceAccountPath: string;
  chats: number[];
  close(): Promise<void>;
}

const startFakes = async (dir: string, nChats: number, tracker: () => Tracker): Promise<Fakes> => {
  const sa = await writeServiceAccount(dir, 'fleetgate-bench');
  const [smsru, twilio, smtp, fcm, telegram] = await Promise.all([
    startFakeSmsRu({ apiKey: SMSRU_KEY, balance: 1e9 }),
    startFakeTwilio({ accountSid: TWILIO_SID, authToken: TWILIO_TOKEN }),
    startFakeSmtp({ user: SMTP_USER, password: SMTP_PASSWORD, tls: 'none' }),
    startFakeFcm(sa),
    startFakeTelegram({ token: BOT_TOKEN }),
  ]);
  // The fakes keep everything they took; the bench only needs the moment, so they are emptied
  // between phases (see `reset`) and their hooks feed the tracker.
  smsru.onAccept = (m) => tracker().arrived(markerOf(m.msg));
  twilio.onCreate = (m) => tracker().arrived(markerOf(m.body));
  onPush(smtp.received, (m) => tracker().arrived(markerOf(m.envelope.to[0])));
  onPush(fcm.sent, (s) =>
    tracker().arrived(markerOf(String((s.message.data as Record<string, string> | undefined)?.m)), s.token),
  );
  onPush(telegram.messages, (m) => tracker().arrived(markerOf(m.text)));
  const chats = Array.from({ length: nChats }, (_, i) => 500_000_000 + i);
  for (const c of chats) telegram.chats.add(c);
  return {
    smsru,
    twilio,
    smtp,
    fcm,
    telegram,
    serviceAccountPath: sa.path,
    chats,
    close: async () => {
      await Promise.all([smsru.close(), twilio.close(), smtp.close(), fcm.close(), telegram.close()]);
    },
  };
};

/** Drops what the fakes recorded (memory) without replacing the arrays the hooks sit on. */
const resetFakes = (f: Fakes) => {
  f.smsru.requests.length = 0;
  f.smsru.sent.length = 0;
  f.twilio.requests.length = 0;
  f.twilio.messages.length = 0;
  f.smtp.received.length = 0;
  f.fcm.sent.length = 0;
  f.fcm.requests.length = 0;
  f.telegram.messages.length = 0;
  f.telegram.calls.length = 0;
};

// ---------------------------------------------------------------------------------------------
// Requests

const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

/** The first few refusals of each status, on stderr: a rejected request must say why. */
const refusalsSeen = new Map<number, number>();
const reportRefusal = (path: string, status: number, body: string) => {
  const n = (refusalsSeen.get(status) ?? 0) + 1;
  refusalsSeen.set(status, n);
  if (n <= 3) console.error(`  POST ${path} answered ${status || 'no response'}: ${body.slice(0, 300)}`);
};

const post = (base: URL, path: string, body: unknown) =>
  new Promise<number>((resolve) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path,
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'content-length': data.length },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let text = '';
        if (status !== 202)
          res.on('data', (d: Buffer) => {
            if (text.length < 500) text += d.toString();
          });
        else res.resume();
        res.on('end', () => {
          if (status !== 202) reportRefusal(path, status, text);
          resolve(status);
        });
        res.on('error', () => resolve(0));
      },
    );
    req.on('error', (e) => {
      reportRefusal(path, 0, e.message);
      resolve(0);
    });
    req.end(data);
  });

interface Population {
  /** Push users and how many devices each has. */
  users: { id: string; devices: number }[];
  chats: number[];
}

/** Counters shared across phases, so no phone, chat or user is hit twice in a short window. */
const cursor = { push: 0, telegram: 0 };

/** mulberry32: a small seeded generator, so a run's order of kinds can be repeated. */
const seeded = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
};

/** `--seed`: shuffles the kinds within each run of MIX.length requests (the shares stay exact). */
let SEED = 1;
const blockOrder = new Map<number, Kind[]>();
const kindAt = (i: number): Kind => {
  const block = Math.floor(i / MIX.length);
  let order = blockOrder.get(block);
  if (!order) {
    const rnd = seeded(SEED * 1_000_003 + block);
    order = [...MIX];
    for (let j = order.length - 1; j > 0; j--) {
      const k = Math.floor(rnd() * (j + 1));
      [order[j], order[k]] = [order[k] as Kind, order[j] as Kind];
    }
    if (blockOrder.size > 10_000) blockOrder.clear();
    blockOrder.set(block, order);
  }
  return order[i % MIX.length] as Kind;
};

const request = (phase: number, i: number, pop: Population): { kind: Kind; path: string; body: unknown; expected: number } => {
  const kind = kindAt(i);
  const marker = `fgb${phase}x${i}`;
  const priority = i % 7 === 0 ? 'high' : 'normal';
  switch (kind) {
    case 'smsru':
      return {
        kind,
        path: '/api/v1/sms',
        expected: 1,
        body: { to: `+7999${String(i % 10_000_000).padStart(7, '0')}`, text: `Driver on the way ${marker}`, priority },
      };
    case 'twilio':
      return {
        kind,
        path: '/api/v1/sms',
        expected: 1,
        body: {
          to: `+447700${String(i % 1_000_000).padStart(6, '0')}`,
          text: `Driver on the way ${marker}`,
          provider: 'twilio',
          priority,
        },
      };
    case 'email-template':
      return {
        kind,
        path: '/api/v1/email',
        expected: 1,
        body:
          i % 2 === 0
            ? {
                to: `${marker}@bench.test`,
                template: 'password_reset',
                data: { name: 'Ivan Petrov', resetUrl: `https://crm.example/reset/${marker}`, locale: 'ru' },
                priority,
              }
            : {
                to: `${marker}@bench.test`,
                template: 'user_registration',
                data: { name: 'Anna', login: marker, loginUrl: 'https://crm.example/login', locale: 'en' },
                priority,
              },
      };
    case 'email-plain':
      return {
        kind,
        path: '/api/v1/email',
        expected: 1,
        body: { to: `${marker}@bench.test`, subject: 'Shift report', text: `Your shift report ${marker}`, priority },
      };
    case 'push': {
      const user = pop.users[cursor.push++ % pop.users.length] as Population['users'][number];
      return {
        kind,
        path: '/api/v1/push',
        expected: user.devices,
        body: { userId: user.id, title: 'New order', body: `Order ${marker}`, data: { m: marker }, priority },
      };
    }
    case 'telegram':
      return {
        kind,
        path: '/api/v1/telegram/messages',
        expected: 1,
        body: { chatId: pop.chats[cursor.telegram++ % pop.chats.length], text: `New order ${marker}`, priority },
      };
  }
};

const send = async (base: URL, tracker: Tracker, phase: number, i: number, pop: Population) => {
  const r = request(phase, i, pop);
  const t = tracker.add(`fgb${phase}x${i}`, r.kind, r.expected);
  t.status = await post(base, r.path, r.body);
};

// ---------------------------------------------------------------------------------------------
// Results

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number);

interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

const latencies = (items: Tracked[]): Latency => {
  const l = items
    .filter((t) => t.doneAt !== undefined)
    .map((t) => (t.doneAt as number) - t.sentAt)
    .sort((a, b) => a - b);
  return { count: l.length, p50: percentile(l, 50), p99: percentile(l, 99), max: l.at(-1) ?? Number.NaN };
};

interface PhaseResult {
  target: string;
  /** Stable keys for the figures: the target's (`embedded`, `jetstream` …) and the phase's (`rate`, `burst`). */
  targetKey: string;
  phaseKey: 'rate' | 'burst';
  phase: string;
  requested: number;
  rejected: number;
  delivered: number;
  missing: number;
  duplicates: number;
  unknown: number;
  /** First request to the last provider call. */
  seconds: number;
  /** Notifications per second through the queue (delivered / seconds). */
  sentPerSecond: number;
  /** POSTs per second the API took (202s / time to the last answer). */
  acceptedPerSecond: number;
  latency: Latency;
  perChannel: Record<Channel, Latency & { sentPerSecond: number }>;
  perKind: Record<string, Latency>;
  cpu: CpuSpan;
  /**
   * µs of CPU per notification delivered in the phase (CPU-seconds of the span / delivered): the
   * gateway all-in and split by thread, nats-server, and the Postgres backends where they run.
   */
  cpuUs: {
    gateway: number;
    gatewayMain: number;
    gatewayOther: number;
    gatewayBusiestOther: number;
    nats: number;
    postgres: number | undefined;
  };
  /** Queue depth (queued + retrying) per channel, and notifications delivered, every POLL_MS. */
  series?: { t: number; depth: Record<Channel, number>; delivered: number; accepted: number }[];
}

const summarise = (
  [target, targetKey]: [string, string],
  [phaseKey, phase]: [PhaseResult['phaseKey'], string],
  tracker: Tracker,
  t0: number,
  acceptedAt: number,
  cpu: CpuSpan,
  series?: PhaseResult['series'],
): PhaseResult => {
  const items = [...tracker.items.values()];
  const last = Math.max(...items.map((t) => t.doneAt ?? 0));
  const seconds = (last - t0) / 1000;
  const rejected = items.filter((t) => t.status !== 202).length;
  const perChannel = {} as PhaseResult['perChannel'];
  for (const c of CHANNELS) {
    const mine = items.filter((t) => channelOf[t.kind] === c);
    const lastC = Math.max(...mine.map((t) => t.doneAt ?? 0));
    const l = latencies(mine);
    perChannel[c] = { ...l, sentPerSecond: l.count / ((lastC - t0) / 1000) };
  }
  const perKind: Record<string, Latency> = {};
  for (const k of new Set(items.map((t) => t.kind))) perKind[k] = latencies(items.filter((t) => t.kind === k));
  const us = (cpuS: number) => (tracker.done > 0 ? (cpuS * 1e6) / tracker.done : Number.NaN);
  const c = cpu.cpuSeconds;
  return {
    target,
    targetKey,
    phaseKey,
    phase,
    requested: items.length,
    rejected,
    delivered: tracker.done,
    missing: items.filter((t) => t.status === 202 && t.doneAt === undefined).length,
    duplicates: tracker.duplicates,
    unknown: tracker.unknown,
    seconds,
    sentPerSecond: tracker.done / seconds,
    acceptedPerSecond: (items.length - rejected) / ((acceptedAt - t0) / 1000),
    latency: latencies(items),
    perChannel,
    perKind,
    cpu,
    cpuUs: {
      gateway: us(c.gateway),
      gatewayMain: us(c.gatewayMain),
      gatewayOther: us(c.gatewayOther),
      gatewayBusiestOther: us(c.gatewayBusiestOther),
      nats: us(c.nats),
      postgres: c.postgres === undefined ? undefined : us(c.postgres),
    },
    ...(series ? { series } : {}),
  };
};

/**
 * Whether the machine could carry `rate` at all: everything but the gateway (nats-server, Postgres
 * and the rest of the machine, the load generator with the fakes) scaled linearly from this phase
 * (the machine's background load before the bench as it is), and the CPU that would leave the
 * gateway per notification, against what it used here.
 */
const machineBudget = (r: PhaseResult, rate: number, backgroundCpuPercent: number) => {
  const scale = rate / r.sentPerSecond;
  const capacity = cpus().length * 100;
  const background = Math.min(backgroundCpuPercent, r.cpu.otherCpuPercent);
  const services = (r.cpu.auxCpuPercent + r.cpu.otherCpuPercent - background) * scale + background;
  const bench = r.cpu.benchCpuPercent * scale;
  const msPer = (pct: number) => ((Math.max(0, pct) / 100) * 1000) / rate;
  const used = ((r.cpu.serverCpuPercent / 100) * 1000) / r.sentPerSecond;
  return (
    `machine budget at ${fmtInt(rate)}/s (${capacity}% CPU): nats-server, Postgres and the rest would take ${fmtInt(services)}%, ` +
    `the load generator with the fakes ${fmtInt(bench)}%; that leaves the gateway ${msPer(capacity - services - bench).toFixed(2)} ms ` +
    `of CPU per notification (${msPer(capacity - services).toFixed(2)} ms were the load generator free); it used ${used.toFixed(2)} ms here`
  );
};

/** Waits until every accepted notification arrived, or nothing moved for `stallMs`. */
const settle = async (tracker: Tracker, stallMs: number) => {
  let lastDone = -1;
  let lastChange = performance.now();
  for (;;) {
    const accepted = [...tracker.items.values()].filter((t) => t.status === 202 || t.status === undefined).length;
    if (tracker.done >= accepted && ![...tracker.items.values()].some((t) => t.status === undefined)) return true;
    if (tracker.done !== lastDone) {
      lastDone = tracker.done;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > stallMs) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
};

const queueDepth = async (base: URL): Promise<Record<Channel, number>> => {
  const depth = { sms: 0, email: 0, push: 0, telegram: 0 } as Record<Channel, number>;
  const res = await fetch(new URL('/api/v1/notifications/queue?limit=1', base), {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  const body = (await res.json()) as { depth?: { channel: Channel; count: number }[] };
  for (const d of body.depth ?? []) depth[d.channel] = (depth[d.channel] ?? 0) + d.count;
  return depth;
};

/**
 * Waits (at most `ms`) until the queue's read model shows nothing queued or retrying: the outcome
 * events are folded too, so a phase's CPU span holds all the work its notifications caused.
 */
const queueDrained = async (base: URL, ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    try {
      if (Object.values(await queueDepth(base)).every((n) => n === 0)) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
};

/** The issue's target for a notification: µs of gateway CPU (all-in) per notification carried to its provider. */
const CPU_TARGET_US = 400;
/** Share of one core at which the load generator (with the fakes) is taken as the limit of a phase. */
const LOAD_SATURATED = 0.9;

/** The phases as the shared result shape (bench/results.ts): figures with their targets, series of the burst. */
const toBenchResult = (
  results: PhaseResult[],
  run: {
    startedAt: Date;
    durationS: number;
    options: BenchResult['options'];
    errors: { target: string; error: string }[];
  },
): BenchResult => {
  const figures: BenchFigure[] = [];
  const series: BenchSeries[] = [];
  const notes: string[] = [];
  const add = (f: BenchFigure) => {
    if (Number.isNaN(f.value)) return;
    const met = judge(f);
    figures.push(met === undefined ? f : { ...f, met });
  };
  for (const r of results) {
    const k = `notify.${r.targetKey}.${r.phaseKey}`;
    const loadCpu = [r.cpu.benchCpuPercent / 100];
    const loadSaturated = r.cpu.benchCpuPercent / 100 >= LOAD_SATURATED;
    const where = `${r.target}, ${r.phase}`;
    const cpuTarget = {
      kind: 'bound' as const,
      atMost: CPU_TARGET_US,
      text: `≤ ${CPU_TARGET_US} µs of gateway CPU per notification (issue 21)`,
    };
    // CPU per unit is judged whatever the load: the gateway's own work per notification is what it is.
    add({
      key: `${k}.cpu_us_per_notification`,
      label: `gateway CPU per notification, ${where}`,
      value: r.cpuUs.gateway,
      unit: 'µs CPU',
      target: cpuTarget,
      loadCpu,
      note: `main thread ${fmtInt(r.cpuUs.gatewayMain)} µs, other threads ${fmtInt(r.cpuUs.gatewayOther)} µs (busiest ${fmtInt(r.cpuUs.gatewayBusiestOther)} µs${r.targetKey === 'embedded' ? ': the PGlite worker' : ''})`,
    });
    add({
      key: `${k}.cpu_us_main_thread`,
      label: `gateway main thread CPU per notification, ${where}`,
      value: r.cpuUs.gatewayMain,
      unit: 'µs CPU',
    });
    add({
      key: `${k}.cpu_us_other_threads`,
      label: `gateway other threads' CPU per notification, ${where}`,
      value: r.cpuUs.gatewayOther,
      unit: 'µs CPU',
    });
    if (r.targetKey !== 'embedded') {
      add({
        key: `${k}.nats_cpu_us_per_notification`,
        label: `nats-server CPU per notification, ${where}`,
        value: r.cpuUs.nats,
        unit: 'µs CPU',
      });
    }
    if (r.cpuUs.postgres !== undefined) {
      add({
        key: `${k}.postgres_cpu_us_per_notification`,
        label: `Postgres CPU per notification (its backends), ${where}`,
        value: r.cpuUs.postgres,
        unit: 'µs CPU',
      });
    }
    if (r.phaseKey === 'burst') {
      add({
        key: `${k}.sent_per_s`,
        label: `notifications/s through the queue, ${where}`,
        value: r.sentPerSecond,
        unit: 'ops/s',
        target: { kind: 'bound', atLeast: 2_000, text: '≥ 2,000 notifications/s' },
        loadSaturated,
        loadCpu,
      });
      add({
        key: `${k}.p99_ms`,
        label: `p99 request→provider call, ${where}`,
        value: r.latency.p99,
        unit: 'ms',
        loadSaturated,
        loadCpu,
      });
      const s = r.series ?? [];
      const total = (p: (typeof s)[number]) => CHANNELS.reduce((n, c) => n + p.depth[c], 0);
      series.push({
        key: `${k}.sent_per_s`,
        label: `notifications/s through the queue, ${r.target}`,
        unit: 'ops/s',
        points: s.slice(1).map((p, i) => {
          const prev = s[i] as (typeof s)[number];
          return [p.t, (p.delivered - prev.delivered) / Math.max(1e-3, p.t - prev.t)];
        }),
      });
      series.push({
        key: `${k}.queue_depth`,
        label: `queue depth (queued + retrying, all channels), ${r.target}`,
        unit: 'notifications',
        points: s.map((p) => [p.t, total(p)]),
      });
    } else {
      add({
        key: `${k}.p99_ms`,
        label: `p99 request→provider call, ${where}`,
        value: r.latency.p99,
        unit: 'ms',
        target: { kind: 'bound', atMost: 500, text: '< 500 ms at a fixed rate' },
        loadSaturated,
        loadCpu,
      });
    }
    add({ key: `${k}.server_peak_rss_mib`, label: `gateway peak RSS, ${where}`, value: r.cpu.serverPeakRssMiB, unit: 'MiB' });
    if (loadSaturated)
      notes.push(
        `${where}: the load generator (with the fakes) used ${fmtInt(r.cpu.benchCpuPercent)}% of a core; its throughput and latency figures are not judged`,
      );
  }
  const correct = run.errors.length === 0 && results.every((r) => r.missing === 0 && r.duplicates === 0 && r.rejected === 0);
  for (const e of run.errors) notes.push(`${e.target} failed: ${e.error.split('\n')[0]}`);
  return {
    bench: 'notify',
    seed: Number(run.options.seed ?? 1),
    startedAt: run.startedAt.toISOString(),
    durationS: run.durationS,
    options: run.options,
    figures,
    series,
    notes,
    correct,
  };
};

// ---------------------------------------------------------------------------------------------

export const runNotifyBench = async (args: string[]): Promise<BenchResult> => {
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const count = Number(opt('count') ?? 10_000);
  const rate = Number(opt('rate') ?? 200);
  const seconds = Number(opt('seconds') ?? 10);
  const warmupCount = Number(opt('warmup') ?? 500);
  const httpConcurrency = Number(opt('http-concurrency') ?? 64);
  const handlerConcurrency = opt('handler-concurrency') ?? '256';
  const nUsers = Number(opt('users') ?? 300);
  const nChats = Number(opt('chats') ?? 2_000);
  const only = opt('only')?.split(',');
  const cpuProfDir = opt('cpu-prof');
  SEED = Number(opt('seed') ?? 1);
  blockOrder.clear();
  const want = (n: string) => !only || only.includes(n);
  // `--kinds=smsru,push` narrows the mix to some kinds (to see what one channel costs).
  const kinds = opt('kinds')?.split(',');
  if (kinds) MIX = MIX.filter((k) => kinds.includes(k));
  if (MIX.length === 0) {
    throw new Error('--kinds: none of smsru, twilio, email-template, email-plain, push, telegram');
  }
  const startedAt = new Date();
  // What the machine does without us (other services, the host): not scaled in the machine budget.
  const b0 = machineBusySeconds();
  await new Promise((r) => setTimeout(r, 3_000));
  const backgroundCpuPercent = ((machineBusySeconds() - b0) / 3) * 100;
  console.error(`machine busy before the bench: ${fmtInt(backgroundCpuPercent)}% CPU`);
  const wall0 = performance.now();

  const tuning: Record<string, string> = {
    // Per handler and process; each command waits on several round trips (Postgres, NATS, the
    // provider), so throughput grows with it until the CPU is busy (16: 373/s, 64: 460/s, 256: 558/s).
    HANDLER_CONCURRENCY: handlerConcurrency,
    SMS_MAX_PER_SOURCE_PER_HOUR: '0',
    SMS_MAX_PER_RECIPIENT_PER_HOUR: '0',
    SMS_DUPLICATE_WINDOW_SECONDS: '0',
    SMS_RATE_LIMIT_PER_SECOND: '0',
    SMS_STATUS_POLL_MAX: '0',
    // Shared by the API, the projections and the handlers of the one process (default 8).
    PG_POOL_MAX: '32',
    // Telegram's paid-broadcast ceiling; at the default 30/s the 10 % Telegram share alone takes 33 s.
    TELEGRAM_RATE_LIMIT_PER_SECOND: '1000',
    LOG_LEVEL: 'warn',
  };
  // `--env=NAME=VALUE` (repeatable) adds to or overrides the gateway's tuning.
  for (const a of args.filter((x) => x.startsWith('--env='))) {
    const kv = a.slice('--env='.length);
    const eq = kv.indexOf('=');
    if (eq > 0) tuning[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  console.error(
    `gateway tuning: ${Object.entries(tuning)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  console.error(`telegram: ${fmtInt(nChats)} chats (1 message/s per chat stays on); push: ${nUsers} users with 1-3 devices`);

  let tracker = new Tracker();
  const dir = await tempDir('fg-bench-notify-');
  const fakes = await startFakes(dir.dir, nChats, () => tracker);
  const results: PhaseResult[] = [];
  const errors: { target: string; error: string }[] = [];
  const users = Array.from({ length: nUsers }, (_, i) => ({ id: `bench-user-${i}`, devices: (i % 3) + 1 }));
  const pop: Population = { users, chats: fakes.chats };

  /** A private nats-server and a scratch database on the machine's Postgres. */
  const jetStreamSetup = async () => {
    const [nats, db, d] = await Promise.all([
      startNatsServer(),
      createScratchDatabase('fg_bench_notify'),
      tempDir('fg-bench-notify-gw-'),
    ]);
    return {
      env: { DATA_DIR: d.dir, NATS_URL: nats.url, DATABASE_URL: db.url },
      // nats-server is a child of this process; Postgres backends belong to the postmaster (counted
      // as "other" in the CPU shares, and on their own per notification: found by database name).
      aux: () => childPids(process.pid).filter((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'nats-server'),
      db: db.name as string | undefined,
      cleanup: async () => {
        await nats.stop();
        await db.drop();
        await d.remove();
      },
    };
  };

  const targets: {
    key: string;
    name: string;
    /** Roles of each gateway process; the first one serves the API. */
    processes: string[];
    setup: () => Promise<{ env: Record<string, string>; aux: () => number[]; db?: string | undefined; cleanup(): Promise<void> }>;
  }[] = [
    {
      key: 'embedded',
      name: 'embedded (PGlite)',
      processes: ['api,projections,handlers'],
      setup: async () => {
        const d = await tempDir('fg-bench-notify-gw-');
        return { env: { DATA_DIR: d.dir }, aux: () => [], cleanup: d.remove };
      },
    },
    {
      key: 'jetstream',
      name: 'JetStream + Postgres',
      processes: ['api,projections,handlers'],
      setup: jetStreamSetup,
    },
    {
      key: 'jetstream-split',
      name: 'JetStream + Postgres, 2 processes',
      processes: ['api,projections', 'handlers'],
      setup: jetStreamSetup,
    },
  ];

  try {
    for (const t of targets) {
      if (!want(t.key)) continue;
      let setup: Awaited<ReturnType<typeof t.setup>> | undefined;
      let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
      const gws: Awaited<ReturnType<typeof startGateway>>[] = [];
      const extraDirs: { remove(): Promise<void> }[] = [];
      try {
        setup = await t.setup();
        const env: Record<string, string> = {
          ...setup.env,
          ...tuning,
          SMS_TEST_MODE: 'false',
          SMS_API_KEY: SMSRU_KEY,
          SMSRU_BASE_URL: fakes.smsru.url,
          SMS_FROM_NUMBER: 'Fleetgate',
          TWILIO_ACCOUNT_SID: TWILIO_SID,
          TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
          TWILIO_FROM_NUMBER: '+15550001111',
          TWILIO_API_BASE_URL: fakes.twilio.url,
          MAIL_TEST_MODE: 'false',
          MAIL_HOST: fakes.smtp.host,
          MAIL_PORT: String(fakes.smtp.port),
          MAIL_ENCRYPTION: 'none',
          MAIL_USERNAME: SMTP_USER,
          MAIL_PASSWORD: SMTP_PASSWORD,
          MAIL_FROM_ADDRESS: 'noreply@fleetgate.example',
          MAIL_FROM_NAME: 'Fleetgate',
          FCM_TEST_MODE: 'false',
          FCM_SERVICE_ACCOUNT: fakes.serviceAccountPath,
          BENCH_FCM_FAKE_PORT: String(fakes.fcm.port),
          TELEGRAM_TEST_MODE: 'false',
          TELEGRAM_BOT_TOKEN: BOT_TOKEN,
          TELEGRAM_API_URL: fakes.telegram.url,
        };
        const execArgv = (i: number) => [
          '--import',
          pathToFileURL(join(packageRoot, 'dist/bench/fcmRedirect.js')).href,
          ...(cpuProfDir
            ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=gateway-notify-${t.key}-${i}.cpuprofile`]
            : []),
        ];
        const ready0 = performance.now();
        let tail = '';
        const keep = (d: Buffer) => {
          tail = (tail + d.toString()).slice(-8000);
        };
        for (const [i, roles] of t.processes.entries()) {
          // Each process its own data directory (lock file, local stores); they share NATS and Postgres.
          const own = i === 0 ? undefined : await tempDir('fg-bench-notify-gw-');
          if (own) extraDirs.push(own);
          const g = await startGateway({ ...env, ...(own ? { DATA_DIR: own.dir } : {}) }, roles, execArgv(i));
          g.child.stdout?.on('data', keep);
          g.child.stderr?.on('data', keep);
          gws.push(g);
        }
        gw = gws[0] as (typeof gws)[number];
        const pids = gws.map((g) => g.child.pid as number);
        const base = new URL(gw.url);
        console.error(
          `${t.name} (pid ${pids.map((p, i) => `${p}: ${t.processes[i]}`).join(', ')}; ready in ${fmtInt(performance.now() - ready0)} ms)`,
        );

        // Push devices, through the API; they are usable once the device_tokens projection folded them.
        const r0 = performance.now();
        let registered = 0;
        const regs = users.flatMap((u) =>
          Array.from({ length: u.devices }, (_, d) => ({
            userId: u.id,
            token: `bench-${t.key}-${u.id}-d${d}-${'x'.repeat(140)}`,
            platform: (['android', 'ios', 'web'] as const)[d % 3],
          })),
        );
        await pool(regs.length, 32, async (i) => {
          const s = await post(base, '/api/v1/push/tokens', regs[i]);
          if (s !== 202) throw new Error(`registering a push token: HTTP ${s}`);
          registered += 1;
        });
        // The last user's devices all answer once the projection folded every registration before them.
        const last = users.at(-1) as Population['users'][number];
        for (let probe = 0; ; probe++) {
          tracker = new Tracker();
          const marker = `fgb9x${probe}`;
          const probeItem = tracker.add(marker, 'push', last.devices);
          probeItem.status = await post(base, '/api/v1/push', {
            userId: last.id,
            title: 'probe',
            body: 'probe',
            data: { m: marker },
          });
          if (await settle(tracker, 1_000)) break;
          if (probe > 30) {
            throw new Error(
              `push tokens never became usable (FCM fake: ${fakes.fcm.tokenRequests.length} token requests, ${fakes.fcm.requests.length} sends, last ${JSON.stringify(fakes.fcm.requests.at(-1) ?? fakes.fcm.tokenRequests.at(-1))}):\n${tail}`,
            );
          }
        }
        console.error(`  ${fmtInt(registered)} push tokens registered and folded in ${fmtInt(performance.now() - r0)} ms`);

        // Warm-up (JIT, SMTP pool, OAuth token, HTTP keep-alive): 500 mixed at 100/s (--warmup=N).
        tracker = new Tracker();
        {
          const w0 = performance.now();
          const pending: Promise<void>[] = [];
          for (let i = 0; i < warmupCount; i++) {
            const due = w0 + i * 10;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            pending.push(send(base, tracker, 0, i, pop));
          }
          await Promise.all(pending);
          const ok = await settle(tracker, 10_000);
          console.error(`  warm-up: ${tracker.done}/${warmupCount} delivered${ok ? '' : ' (incomplete)'}`);
        }
        resetFakes(fakes);

        // Phase 1: a fixed rate, well under capacity.
        tracker = new Tracker();
        {
          const n = rate * seconds;
          const watch = watchCpu(pids, setup.aux(), setup.db);
          const t0 = performance.now();
          const pending: Promise<void>[] = [];
          for (let i = 0; i < n; i++) {
            const due = t0 + (i * 1000) / rate;
            const wait = due - performance.now();
            if (wait > 1) await new Promise((r) => setTimeout(r, wait));
            pending.push(send(base, tracker, 1, i, pop));
          }
          await Promise.all(pending);
          const acceptedAt = performance.now();
          await settle(tracker, 15_000);
          await queueDrained(base, 3_000);
          const r = summarise([t.name, t.key], ['rate', `${fmtInt(rate)}/s for ${seconds} s`], tracker, t0, acceptedAt, watch());
          results.push(r);
          console.error(
            `  phase 1 @${rate}/s: p50 ${fmtMs(r.latency.p50)} ms, p99 ${fmtMs(r.latency.p99)} ms, delivered ${r.delivered}/${r.requested}, missing ${r.missing}, duplicates ${r.duplicates}, server CPU ${Math.round(r.cpu.serverCpuPercent)}%`,
          );
        }
        resetFakes(fakes);
        await new Promise((r) => setTimeout(r, 1_000));

        // Phase 2: N at once.
        tracker = new Tracker();
        {
          const series: NonNullable<PhaseResult['series']> = [];
          let polling = true;
          let accepted = 0;
          const watch = watchCpu(pids, setup.aux(), setup.db);
          const t0 = performance.now();
          const poller = (async () => {
            while (polling) {
              const at = performance.now();
              try {
                const depth = await queueDepth(base);
                series.push({ t: (at - t0) / 1000, depth, delivered: tracker.done, accepted });
              } catch {}
              const wait = POLL_MS - (performance.now() - at);
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            }
          })();
          await pool(count, httpConcurrency, async (i) => {
            await send(base, tracker, 2, i, pop);
            accepted += 1;
          });
          const acceptedAt = performance.now();
          const ok = await settle(tracker, 30_000);
          await queueDrained(base, 3_000);
          const cpu = watch();
          // Anything arriving late is a duplicate (or a straggler the summary counts as delivered).
          await new Promise((r) => setTimeout(r, 2_000));
          polling = false;
          await poller;
          const r = summarise([t.name, t.key], ['burst', `${fmtInt(count)} at once`], tracker, t0, acceptedAt, cpu, series);
          results.push(r);
          console.error(
            `  phase 2 ${fmtInt(count)} at once: ${fmtInt(r.sentPerSecond)}/s through the queue (${r.seconds.toFixed(1)} s), API ${fmtInt(r.acceptedPerSecond)}/s, p50 ${fmtMs(r.latency.p50)} ms, p99 ${fmtMs(r.latency.p99)} ms, missing ${r.missing}, duplicates ${r.duplicates}${ok ? '' : ' (stalled)'}, server CPU ${Math.round(r.cpu.serverCpuPercent)}%, bench ${Math.round(r.cpu.benchCpuPercent)}%, other ${Math.round(r.cpu.otherCpuPercent)}%`,
          );
        }
        if (gws.some((g) => g.child.exitCode !== null)) throw new Error(`a gateway process exited:\n${tail}`);
      } catch (e) {
        errors.push({ target: t.name, error: String((e as Error)?.stack ?? e) });
        console.error(`  ${t.name} failed: ${(e as Error)?.message ?? e}`.slice(0, 6000));
      } finally {
        await Promise.all(gws.map((g) => stop(g.child)));
        for (const d of extraDirs) await d.remove();
        await setup?.cleanup();
        resetFakes(fakes);
      }
    }
  } finally {
    await fakes.close();
    await dir.remove();
    agent.destroy();
  }

  // -------------------------------------------------------------------------------------------
  const totalSeconds = (performance.now() - wall0) / 1000;
  console.log(
    `\nnotify: ${fmtInt(count)} mixed notifications (${kinds ? `only ${MIX.join(', ')}` : '40 % SMS: 30 SMS.ru + 10 Twilio, 30 % e-mail: 20 template + 10 plain, 20 % push to users with 1-3 devices, 10 % Telegram'}), fakes in the bench process`,
  );
  console.log(
    `gateway roles api,projections,handlers, live mode; ${Object.entries(tuning)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  console.log(`machine: ${cpus().length} cores (shared); CPU % is of one core; "other" is the rest of the machine\n`);
  console.log(
    table(
      [
        'target',
        'phase',
        '>sent/s',
        '>API/s',
        '>s',
        '>p50 ms',
        '>p99 ms',
        '>max ms',
        '>missing',
        '>dup',
        '>rejected',
        '>srv CPU',
        '>aux',
        '>bench',
        '>other',
        '>RSS MiB',
      ],
      results.map((r) => [
        r.target,
        r.phase,
        fmtInt(r.sentPerSecond),
        fmtInt(r.acceptedPerSecond),
        r.seconds.toFixed(1),
        fmtMs(r.latency.p50),
        fmtMs(r.latency.p99),
        fmtMs(r.latency.max),
        r.missing,
        r.duplicates,
        r.rejected,
        `${Math.round(r.cpu.serverCpuPercent)}%`,
        `${Math.round(r.cpu.auxCpuPercent)}%`,
        `${Math.round(r.cpu.benchCpuPercent)}%`,
        `${Math.round(r.cpu.otherCpuPercent)}%`,
        fmtInt(r.cpu.serverPeakRssMiB),
      ]),
    ),
  );
  console.log("\nper channel (p50 / p99 ms, and sent/s from the first request to the channel's last call):");
  console.log(
    table(
      ['target', 'phase', ...CHANNELS.map((c) => `>${c}`)],
      results.map((r) => [
        r.target,
        r.phase,
        ...CHANNELS.map((c) => {
          const l = r.perChannel[c];
          return `${fmtMs(l.p50)} / ${fmtMs(l.p99)}, ${fmtInt(l.sentPerSecond)}/s`;
        }),
      ]),
    ),
  );
  for (const r of results.filter((x) => x.series)) {
    console.log(`\nqueue depth over time, ${r.target} (t s: queued+retrying sms/email/push/telegram, delivered, accepted):`);
    const s = r.series ?? [];
    const step = Math.max(1, Math.ceil(s.length / 40));
    const lines = s
      .filter((_, i) => i % step === 0 || i === s.length - 1)
      .map(
        (p) =>
          `${p.t.toFixed(1).padStart(5)}  ${CHANNELS.map((c) => fmtInt(p.depth[c]).padStart(5)).join(' ')}  ${fmtInt(p.delivered).padStart(6)} ${fmtInt(p.accepted).padStart(6)}`,
      );
    console.log(lines.join('\n'));
  }

  console.log(
    '\nCPU per notification delivered (µs; the gateway all-in, then its main thread and its other threads, the busiest of them alone; nats-server; the Postgres backends of its database):',
  );
  console.log(
    table(
      ['target', 'phase', '>gateway', '>main', '>other thr', '>busiest', '>nats', '>Postgres', '>srv+nats+pg'],
      results.map((r) => [
        r.target,
        r.phase,
        fmtInt(r.cpuUs.gateway),
        fmtInt(r.cpuUs.gatewayMain),
        fmtInt(r.cpuUs.gatewayOther),
        fmtInt(r.cpuUs.gatewayBusiestOther),
        r.targetKey === 'embedded' ? '-' : fmtInt(r.cpuUs.nats),
        r.cpuUs.postgres === undefined ? '-' : fmtInt(r.cpuUs.postgres),
        fmtInt(r.cpuUs.gateway + r.cpuUs.nats + (r.cpuUs.postgres ?? 0)),
      ]),
    ),
  );

  const result = toBenchResult(results, {
    startedAt,
    durationS: totalSeconds,
    options: {
      count,
      rate,
      seconds,
      httpConcurrency,
      handlerConcurrency,
      users: nUsers,
      chats: nChats,
      mix: MIX.join(','),
      only: only?.join(',') ?? 'all',
      seed: SEED,
    },
    errors,
  });
  result.notes.push(
    `machine busy before the bench: ${fmtInt(backgroundCpuPercent)}% CPU of ${cpus().length * 100}% (shared machine)`,
    ...results.filter((r) => r.phaseKey === 'burst').map((r) => `${r.target}: ${machineBudget(r, 2_000, backgroundCpuPercent)}`),
  );

  console.log('\ntargets:');
  for (const f of result.figures.filter((x) => x.target)) {
    const verdict = f.met === undefined ? 'LOAD' : f.met ? 'PASS' : 'MISS';
    console.log(`  ${verdict} ${f.label}: ${f.unit === 'ms' ? fmtMs(f.value) : fmtInt(f.value)} ${f.unit} (${f.target?.text})`);
  }
  for (const r of results) {
    const exact = r.missing === 0 && r.duplicates === 0 && r.rejected === 0;
    console.log(
      `  ${exact ? 'PASS' : 'MISS'} ${r.target}, ${r.phase}: each notification reached its fake exactly once (missing ${r.missing}, duplicates ${r.duplicates}, rejected ${r.rejected})`,
    );
    if (r.phaseKey === 'burst' && r.sentPerSecond < 2_000) console.log(`       ${machineBudget(r, 2_000, backgroundCpuPercent)}`);
  }
  for (const e of errors) console.log(`ERROR ${e.target}: ${e.error.split('\n')[0]}`);

  const outDir = join(packageRoot, 'bench', 'results');
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, `notify-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        bench: 'notify',
        startedAt: startedAt.toISOString(),
        totalSeconds,
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
        backgroundCpuPercent,
        settings: {
          count,
          rate,
          mix: MIX,
          seed: SEED,
          seconds,
          httpConcurrency,
          users: nUsers,
          chats: nChats,
          pollMs: POLL_MS,
          tuning,
        },
        results,
        errors,
        result,
      },
      (_k, v) => (Number.isNaN(v) ? null : v),
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file} (${totalSeconds.toFixed(0)} s)`);
  return result;
};

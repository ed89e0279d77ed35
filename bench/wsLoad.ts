import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
/**
 * A load process of `npm run bench -- ws` (its own process, so its CPU is not the server's; the
 * bench runs several, `--load-procs`): phones [from, from + connections) on raw sockets
 * (bench/load/wsWire.ts: pre-masked frames from a per-phone template) sending `location`
 * messages, and optionally one `/v1/ws/live` subscriber (the `ws` library: one connection).
 * argv[2] = JSON WsLoadConfig (or a file holding it); prints one JSON WsLoadResult line.
 */
import WebSocket from 'ws';
import { encodeLatency, latencyHistogram, recordMs } from './load/latency.js';
import {
  frameReader,
  type LocationTemplate,
  locationFrame,
  locationId,
  locationTemplate,
  maskedFrame,
  upgrade,
} from './load/wsWire.js';

export interface WsLoadConfig {
  /** ws://host:port/path; `?token=` is appended per connection when tokens are given. */
  url: string;
  /** Tokens of phones [from, from + connections). */
  tokens?: string[];
  /** Index of the first phone (`phone-${from}`). */
  from?: number;
  connections: number;
  seconds: number;
  /** Messages per second per connection (open loop); 0 = closed loop with `window` in flight. */
  perSecond: number;
  window?: number;
  /** Every 5 s, this share of connections also sends a `locations` batch of 10 points. */
  burstShare?: number;
  live?: { url: string };
  /** Makes the message ids of this run unique (the gateway dedupes on device + id). */
  nonce?: string;
  /** Seeds the phones' start offsets and burst choices. */
  seed?: number;
  /**
   * Print `{"type":"connected"}` once every phone is connected and wait for a line on stdin before
   * sending; print `{"type":"drained"}` once the acks in flight had their second: the bench
   * measures the server's CPU between the two, connecting and closing excluded.
   */
  handshake?: boolean;
}
export interface WsLoadResult {
  connected: number;
  sent: number;
  acked: number;
  errors: number;
  /** Refused points by the server's reason code. */
  errorCodes: Record<string, number>;
  closed: number;
  seconds: number;
  ackP50: number;
  ackP99: number;
  liveSeen: number;
  liveP99: number;
  /** send → ack, µs, encoded HdrHistogram (merged over the load processes by the bench). */
  ackHistogram?: string;
  /** ack → seen on the live feed, µs, encoded HdrHistogram. */
  liveHistogram?: string;
  /** Acks received in each second, and that second's send → ack histogram (encoded). */
  perSecond?: { acked: number; h: string }[];
  /** This process's CPU-seconds while sending (connecting excluded). */
  loadCpuSeconds?: number;
}

/** mulberry32: the bench's choices repeat run to run for a given seed. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

interface Phone {
  n: number;
  socket: import('node:net').Socket;
  open: boolean;
  key: Buffer;
  template: LocationTemplate;
  seq: number;
  /** message id → sent at (ms, monotonic). */
  sentAt: Map<string, number>;
}

const run = async (cfg: WsLoadConfig): Promise<WsLoadResult> => {
  const from = cfg.from ?? 0;
  const nonce = cfg.nonce ?? randomBytes(4).toString('hex');
  const random = prng(cfg.seed ?? 1);
  const hist = latencyHistogram();
  const liveHist = latencyHistogram();
  let second = latencyHistogram();
  let secondAcked = 0;
  const perSecond: { acked: number; h: string }[] = [];
  const tsOf = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  const seenLive = new Set<string>();
  let sent = 0;
  let acked = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let closed = 0;
  let sending = false;
  let end = Number.POSITIVE_INFINITY;
  const devOf = (n: number) => `phone-${n}`;
  const mine = (id: string) => {
    const n = Number(id.slice(6));
    return id.startsWith('phone-') && n >= from && n < from + cfg.connections;
  };

  let live: WebSocket | undefined;
  if (cfg.live) {
    live = new WebSocket(cfg.live.url);
    await new Promise((r) => live?.once('open', r));
    const subscribed = new Promise((r) =>
      live?.on('message', (d) => {
        if ((JSON.parse(d.toString()) as { type: string }).type === 'subscribed') r(undefined);
      }),
    );
    live.send(JSON.stringify({ type: 'subscribe', vehicles: '*' }));
    await subscribed; // from here on every acked point reaches it
    live.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; deviceId: string; ts: number };
      if (m.type !== 'position' || !mine(m.deviceId)) return; // other load processes' phones
      const key = `${m.deviceId}:${m.ts}`;
      const at = ackedAt.get(key);
      if (at !== undefined) {
        ackedAt.delete(key);
        recordMs(liveHist, Math.max(0, performance.now() - at));
      } else seenLive.add(key); // before its ack reached the phone: latency 0 once the ack comes
    });
  }

  const send = (p: Phone, batch = 1) => {
    if (!p.open) return;
    const now = performance.now();
    sent += batch;
    if (batch === 1) {
      const seq = ++p.seq;
      const ts = Date.now() + (seq % 1000) - 5_000;
      const id = locationId(nonce, seq);
      p.sentAt.set(id, now);
      if (cfg.live) tsOf.set(`${p.n}:${id}`, ts);
      p.socket.write(locationFrame(p.template, seq, ts));
      return;
    }
    const items = Array.from({ length: batch }, () => {
      const seq = ++p.seq;
      const id = locationId(nonce, seq);
      const ts = Date.now() + (seq % 1000) - 5_000;
      p.sentAt.set(id, now);
      if (cfg.live) tsOf.set(`${p.n}:${id}`, ts);
      return { id, ts, lat: 55 + (p.n % 100) / 1000, lon: 37 + (seq % 1000) / 10_000, speed: 30, battery: 80 };
    });
    p.socket.write(maskedFrame(Buffer.from(JSON.stringify({ type: 'locations', items })), p.key));
  };

  const onMessage = (p: Phone, opcode: number, payload: Buffer) => {
    if (opcode === 0x9) return p.socket.write(maskedFrame(payload, p.key, 0xa)); // ping → pong
    if (opcode === 0x8) return;
    if (opcode !== 0x1) return;
    const m = JSON.parse(payload.toString('latin1')) as { type: string; ids?: string[]; code?: string };
    const now = performance.now();
    if (m.type !== 'ack') {
      const k = m.ids?.length || 1;
      errors += k;
      errorCodes[m.code ?? m.type] = (errorCodes[m.code ?? m.type] ?? 0) + k;
      return;
    }
    for (const id of m.ids ?? []) {
      const t = p.sentAt.get(id);
      if (t === undefined) continue;
      p.sentAt.delete(id);
      recordMs(hist, now - t);
      if (now <= end) {
        recordMs(second, now - t);
        secondAcked++;
      }
      acked++;
      if (cfg.live) {
        // The live feed names a point by device and fix time.
        const ts = tsOf.get(`${p.n}:${id}`);
        if (ts === undefined) continue;
        tsOf.delete(`${p.n}:${id}`);
        const key = `${devOf(p.n)}:${ts}`;
        if (seenLive.delete(key)) recordMs(liveHist, 0);
        else ackedAt.set(key, now);
      }
    }
    if (sending && cfg.perSecond === 0 && now < end) send(p);
  };

  const phones: Phone[] = [];
  for (let i = 0; i < cfg.connections; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, cfg.connections - i) }, async (_, k) => {
        const n = from + i + k;
        const url = cfg.tokens ? `${cfg.url}?token=${cfg.tokens[i + k]}` : cfg.url;
        const { socket, rest } = await upgrade(url);
        const key = randomBytes(4);
        const p: Phone = {
          n,
          socket,
          open: true,
          key,
          template: locationTemplate(key, nonce, 55 + (n % 100) / 1000),
          seq: 0,
          sentAt: new Map(),
        };
        const read = frameReader((op, payload) => onMessage(p, op, payload));
        socket.on('data', read);
        if (rest.length > 0) read(rest);
        socket.on('close', () => {
          p.open = false;
          closed++;
        });
        socket.on('error', () => {});
        phones[i + k] = p;
      }),
    );
  }

  if (cfg.handshake) {
    process.stdout.write(`${JSON.stringify({ type: 'connected' })}\n`);
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  end = t0 + cfg.seconds * 1000;
  sending = true;
  const timers: NodeJS.Timeout[] = [];
  timers.push(
    setInterval(() => {
      perSecond.push({ acked: secondAcked, h: encodeLatency(second) });
      second = latencyHistogram();
      secondAcked = 0;
    }, 1_000),
  );
  if (cfg.perSecond === 0) {
    for (const p of phones) for (let w = 0; w < (cfg.window ?? 4); w++) send(p);
  } else {
    const every = 1000 / cfg.perSecond;
    for (const p of phones) {
      const start = setTimeout(() => {
        timers.push(setInterval(() => send(p), every));
      }, random() * every);
      timers.push(start);
    }
    if (cfg.burstShare) {
      timers.push(
        setInterval(() => {
          for (const p of phones) if (random() < (cfg.burstShare ?? 0)) send(p, 10);
        }, 5_000),
      );
    }
  }
  await new Promise((r) => setTimeout(r, cfg.seconds * 1000));
  sending = false;
  for (const t of timers) clearInterval(t);
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 1_000)); // acks in flight
  const seconds = (performance.now() - t0) / 1000;
  if (cfg.handshake) process.stdout.write(`${JSON.stringify({ type: 'drained' })}\n`);
  for (const p of phones) p.socket.destroy();
  live?.terminate();
  const h = hist;
  return {
    connected: phones.length,
    sent,
    acked,
    errors,
    errorCodes,
    closed,
    seconds,
    ackP50: h.totalCount ? h.getValueAtPercentile(50) / 1000 : Number.NaN,
    ackP99: h.totalCount ? h.getValueAtPercentile(99) / 1000 : Number.NaN,
    liveSeen: liveHist.totalCount,
    liveP99: liveHist.totalCount ? liveHist.getValueAtPercentile(99) / 1000 : Number.NaN,
    ackHistogram: encodeLatency(hist),
    liveHistogram: encodeLatency(liveHist),
    perSecond,
    loadCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
};

if (process.argv[2]) {
  // The config (thousands of tokens) comes in a file: one argument may not exceed 128 KiB.
  const arg = process.argv[2];
  run(JSON.parse(arg.startsWith('{') ? arg : readFileSync(arg, 'utf8')) as WsLoadConfig).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(1);
    },
  );
}

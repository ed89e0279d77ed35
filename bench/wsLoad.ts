import { readFileSync } from 'node:fs';
/**
 * Load process of `npm run bench -- ws` (its own process, so its CPU is not the server's): N phone
 * connections sending `location` messages, and optionally one `/v1/ws/live` subscriber.
 * argv[2] = JSON WsLoadConfig; prints one JSON WsLoadResult line.
 */
import WebSocket from 'ws';

export interface WsLoadConfig {
  /** ws://host:port/path; `?token=` is appended per connection when tokens are given. */
  url: string;
  tokens?: string[];
  connections: number;
  seconds: number;
  /** Messages per second per connection (open loop); 0 = closed loop with `window` in flight. */
  perSecond: number;
  window?: number;
  /** Every 5 s, this share of connections also sends a `locations` batch of 10 points. */
  burstShare?: number;
  live?: { url: string };
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
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

const run = async (cfg: WsLoadConfig): Promise<WsLoadResult> => {
  const sentAt = new Map<string, number>();
  const tsOf = new Map<string, number>();
  const ackedAt = new Map<string, number>();
  const lat: number[] = [];
  const liveLat: number[] = [];
  const seenLive = new Set<string>();
  let sent = 0;
  let acked = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let closed = 0;
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
      if (m.type !== 'position') return;
      const key = `${m.deviceId}:${m.ts}`;
      const at = ackedAt.get(key);
      if (at !== undefined) liveLat.push(Math.max(0, performance.now() - at));
      else seenLive.add(key); // before its ack reached the phone: latency 0 once the ack comes
    });
  }
  const sockets: WebSocket[] = [];
  for (let i = 0; i < cfg.connections; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, cfg.connections - i) }, (_, k) => {
        const n = i + k;
        const url = cfg.tokens ? `${cfg.url}?token=${cfg.tokens[n]}` : cfg.url;
        const ws = new WebSocket(url, { perMessageDeflate: false });
        sockets[n] = ws;
        ws.on('close', () => closed++);
        ws.on('error', () => {});
        return new Promise((r) => ws.once('open', r));
      }),
    );
  }
  const end = performance.now() + cfg.seconds * 1000;
  const devOf = (n: number) => `phone-${n}`;
  let seq = 0;
  const send = (n: number, batch = 1) => {
    const ws = sockets[n] as WebSocket;
    if (ws.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    const items = Array.from({ length: batch }, () => {
      const id = `${n}-${++seq}`;
      const ts = Date.now() + (seq % 1000) - 5_000;
      sentAt.set(id, now);
      if (cfg.live) tsOf.set(id, ts);
      return { id, ts, lat: 55 + (n % 100) / 1000, lon: 37 + (seq % 1000) / 10_000, speed: 30, battery: 80 };
    });
    sent += batch;
    ws.send(JSON.stringify(batch === 1 ? { type: 'location', ...items[0] } : { type: 'locations', items }));
  };
  sockets.forEach((ws, n) => {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; ids: string[]; code?: string };
      const now = performance.now();
      if (m.type !== 'ack') {
        const n = m.ids?.length || 1;
        errors += n;
        errorCodes[m.code ?? m.type] = (errorCodes[m.code ?? m.type] ?? 0) + n;
        return;
      }
      for (const id of m.ids) {
        const t = sentAt.get(id);
        if (t === undefined) continue;
        sentAt.delete(id);
        lat.push(now - t);
        acked++;
      }
      if (cfg.live) {
        // The live feed names a point by device and fix time.
        for (const id of m.ids) {
          const ts = tsOf.get(id);
          if (ts === undefined) continue;
          tsOf.delete(id);
          const key = `${devOf(n)}:${ts}`;
          if (seenLive.delete(key)) liveLat.push(0);
          else ackedAt.set(key, now);
        }
      }
      if (cfg.perSecond === 0 && now < end) send(n);
    });
  });
  const t0 = performance.now();
  const timers: NodeJS.Timeout[] = [];
  if (cfg.perSecond === 0) {
    sockets.forEach((_, n) => {
      for (let w = 0; w < (cfg.window ?? 4); w++) send(n);
    });
  } else {
    sockets.forEach((_, n) => {
      const every = 1000 / cfg.perSecond;
      const start = setTimeout(() => {
        timers.push(setInterval(() => send(n), every));
      }, Math.random() * every);
      timers.push(start);
    });
    if (cfg.burstShare) {
      timers.push(
        setInterval(() => {
          for (let n = 0; n < sockets.length; n++) if (Math.random() < (cfg.burstShare ?? 0)) send(n, 10);
        }, 5_000),
      );
    }
  }
  await new Promise((r) => setTimeout(r, cfg.seconds * 1000));
  for (const t of timers) clearInterval(t);
  await new Promise((r) => setTimeout(r, 1_000)); // acks in flight
  const seconds = (performance.now() - t0) / 1000;
  for (const ws of sockets) ws.terminate();
  live?.terminate();
  return {
    connected: sockets.length,
    sent,
    acked,
    errors,
    errorCodes,
    closed,
    seconds,
    ackP50: pct(lat, 50),
    ackP99: pct(lat, 99),
    liveSeen: liveLat.length,
    liveP99: pct(liveLat, 99),
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

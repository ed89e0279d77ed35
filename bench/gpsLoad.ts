/**
 * The load generator of `npm run bench -- gps`, run as its own process (`node dist/bench/gpsLoad.js
 * '<LoadConfig JSON>'`) so that its CPU is never counted as the server's. It connects its devices
 * (mqtt.js, MQTT 3.1.1, one connection each), then takes commands as JSON lines on stdin and
 * reports as JSON lines on stdout:
 *
 * - `{"cmd":"phase",...}` runs one timed phase: prints `start`, a `p` (progress: cumulative points
 *   sent and PUBACKed, wall-clock ms) every `progressMs`, `end` at the deadline, then `result`
 *   once every PUBACK still owed has arrived (or 15 s passed).
 * - `{"cmd":"quit"}` closes every connection and exits.
 *
 * Phases without `rate` are closed loops: each device keeps `window` QoS 1 messages in flight and
 * publishes the next only when a PUBACK frees a slot (window 1 = stop-and-wait); at QoS 0 a device
 * publishes again as soon as mqtt.js has handed the previous one to the socket without
 * backpressure, and after the deadline sends one QoS 1 point as a fence (see `processedSeconds`). Phases with `rate` are open loops: points go out on a fixed schedule
 * (`rate` per second over all devices, round-robin) whether or not PUBACKs came back.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';

export interface LoadConfig {
  host: string;
  port: number;
  /** Devices `${prefix}${i}` for i in [from, from + count), without credentials (plain brokers)... */
  prefix?: string;
  /** ...or a JSON file `[{ id, token }]`, of which [from, from + count) are used. */
  credentialsFile?: string;
  from: number;
  count: number;
  connectConcurrency?: number;
  /** Progress lines during a phase, ms apart (0: none). */
  progressMs?: number;
  /** Keep-alive in s (mqtt.js pings when idle). */
  keepalive?: number;
}

export interface PhaseCommand {
  cmd: 'phase';
  name: string;
  qos: 0 | 1;
  seconds: number;
  /** Points/s over all devices (open loop); absent: closed loop. */
  rate?: number;
  /** Closed loop, QoS 1: messages in flight per device. Default 1 (stop-and-wait). */
  window?: number;
  /** Makes the point ids of this phase unique (the gateway dedupes on device + id). */
  nonce: string;
}
export type LoadCommand = PhaseCommand | { cmd: 'quit' };

export interface LatencyStats {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface PhaseResult {
  name: string;
  qos: 0 | 1;
  /** Wall time of the timed part. */
  seconds: number;
  /** Points handed to mqtt.js before the deadline. */
  sent: number;
  /** PUBACKs received before the deadline (QoS 1). */
  acked: number;
  /** PUBACKs for points of this phase received after the deadline. */
  ackedLate: number;
  /** Points of this phase never PUBACKed (QoS 1) within 15 s after the deadline; QoS 0: fences never PUBACKed. */
  unacked: number;
  /** QoS 0: QoS 1 points sent after the deadline, one per device (see `processedSeconds`). */
  fences: number;
  /** QoS 0: from the start until the last fence was PUBACKed: `sent / processedSeconds` is what the server took per s. */
  processedSeconds?: number;
  /** Open loop: scheduled points not sent because the in-flight cap was reached. */
  skipped: number;
  errors: number;
  disconnects: number;
  firstError?: string;
  /** publish → PUBACK, ms (QoS 1). */
  latency: LatencyStats;
  payloadBytes: number;
  /** This process's CPU while timed (100 = one core). */
  cpuPercent: number;
  /** Lateness of this process's event loop, ms (p99): high means the generator itself lagged. */
  loopDelayP99: number;
}

export type LoadEvent =
  | { type: 'connected'; devices: number; failed: number; ms: number; firstError?: string }
  | { type: 'start'; name: string; t: number }
  | { type: 'p'; t: number; sent: number; acked: number }
  | { type: 'end'; name: string; t: number }
  | ({ type: 'result' } & PhaseResult)
  | { type: 'fatal'; message: string };

/** Cap on QoS 1 messages in flight in an open-loop phase (beyond it scheduled points are skipped). */
const MAX_IN_FLIGHT = 100_000;
const DRAIN_MS = 15_000;
/** QoS 0: how long the fences (see runPhase) may take; the server works through what the sockets hold. */
const FENCE_MS = 90_000;

interface Device {
  id: string;
  topic: string;
  client: MqttClient;
  lat: number;
  lon: number;
  seq: number;
}

const emit = (e: LoadEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);

/** Every point is padded to this many bytes of JSON (through its `id`). */
const PAYLOAD_BYTES = 150;

/** `{"ts":…,"lat":…,"lon":…,"speed":…,"heading":…,"battery":…,"id":"…"}`, PAYLOAD_BYTES long. */
const pointPayload = (d: Device, nonce: string) => {
  const s = ++d.seq;
  const lat = (d.lat + (s % 1000) * 1e-5).toFixed(6);
  const lon = (d.lon + (s % 1000) * 1e-5).toFixed(6);
  const head = `{"ts":${Date.now()},"lat":${lat},"lon":${lon},"speed":${(30 + (s % 70)).toFixed(1)},"heading":${(s * 7) % 360}.5,"battery":${90 - (s % 50)},"id":"${nonce}-`;
  const seq = String(s);
  return `${head}${seq.padStart(PAYLOAD_BYTES - head.length - 2, '0')}"}`;
};

const summarise = (h: ReturnType<typeof createHistogram>): LatencyStats => {
  if (h.count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const ms = (us: number) => us / 1000;
  return {
    count: h.count,
    mean: ms(h.mean),
    p50: ms(h.percentile(50)),
    p90: ms(h.percentile(90)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
  };
};

const connectOne = (cfg: LoadConfig, id: string, token: string | undefined) =>
  new Promise<MqttClient>((resolve, reject) => {
    const client = mqtt.connect({
      host: cfg.host,
      port: cfg.port,
      protocolVersion: 4,
      clientId: id,
      ...(token === undefined ? {} : { username: id, password: token }),
      clean: true,
      keepalive: cfg.keepalive ?? 60,
      reconnectPeriod: 0,
      connectTimeout: 60_000,
      resubscribe: false,
    });
    // Node sockets have Nagle on by default: a device's next point would wait for the ACK of the last.
    (client.stream as Socket | undefined)?.setNoDelay?.(true);
    const fail = (e: Error) => {
      client.end(true);
      reject(e);
    };
    client.once('connect', () => {
      client.off('error', fail);
      resolve(client);
    });
    client.once('error', fail);
  });

const main = async () => {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
  const creds = cfg.credentialsFile
    ? (JSON.parse(readFileSync(cfg.credentialsFile, 'utf8')) as { id: string; token: string }[]).slice(
        cfg.from,
        cfg.from + cfg.count,
      )
    : Array.from({ length: cfg.count }, (_, i) => ({ id: `${cfg.prefix ?? 'dev-'}${cfg.from + i}`, token: undefined }));

  let disconnects = 0;
  let errors = 0;
  let firstError: string | undefined;
  const noteError = (e: unknown) => {
    errors++;
    firstError ??= e instanceof Error ? e.message : String(e);
  };

  // Connect, a bounded number at a time (the listen backlog and the registry lookups).
  const devices: Device[] = [];
  let failed = 0;
  const t0 = performance.now();
  let next = 0;
  const connector = async () => {
    while (next < creds.length) {
      const i = next++;
      const c = creds[i] as { id: string; token: string | undefined };
      try {
        const client = await connectOne(cfg, c.id, c.token);
        client.on('close', () => disconnects++);
        client.on('error', noteError);
        devices.push({
          id: c.id,
          topic: `v1/devices/${c.id}/location`,
          client,
          lat: 40 + ((cfg.from + i) % 200) * 0.1,
          lon: 10 + ((cfg.from + i) % 300) * 0.1,
          seq: 0,
        });
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency ?? 100, creds.length) }, connector));
  emit({
    type: 'connected',
    devices: devices.length,
    failed,
    ms: performance.now() - t0,
    ...(firstError ? { firstError } : {}),
  });
  firstError = undefined;

  const runPhase = async (cmd: PhaseCommand): Promise<PhaseResult> => {
    const hist = createHistogram({ lowest: 1, highest: 120_000_000, figures: 3 });
    const loop = monitorEventLoopDelay({ resolution: 5 });
    let sent = 0;
    let acked = 0;
    let ackedLate = 0;
    let skipped = 0;
    let outstanding = 0;
    let payloadBytes = 0;
    let timedOut = false;
    const errors0 = errors;
    const disconnects0 = disconnects;
    const durationMs = cmd.seconds * 1000;
    const start = performance.now();
    const deadline = start + durationMs;
    let settle: () => void = () => {};
    const allSettled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    let ended = false;
    const checkSettled = () => {
      if (ended && outstanding === 0) settle();
    };

    const publish = (d: Device, then?: () => void) => {
      const payload = pointPayload(d, cmd.nonce);
      payloadBytes += payload.length;
      sent++;
      outstanding++;
      const at = performance.now();
      d.client.publish(d.topic, payload, { qos: cmd.qos }, (err) => {
        outstanding--;
        if (err) noteError(err);
        else if (cmd.qos === 1) {
          const now = performance.now();
          if (now <= deadline) acked++;
          else ackedLate++;
          hist.record(Math.max(1, Math.round((now - at) * 1000)));
        }
        then?.();
        checkSettled();
      });
    };

    loop.enable();
    const cpu0 = process.cpuUsage();
    emit({ type: 'start', name: cmd.name, t: Date.now() });
    const progress =
      (cfg.progressMs ?? 0) > 0 ? setInterval(() => emit({ type: 'p', t: Date.now(), sent, acked }), cfg.progressMs) : undefined;
    const live = devices.filter((d) => d.client.connected);

    if (cmd.rate) {
      // Open loop: whatever the schedule says is due goes out now, round-robin over the devices.
      const rate = cmd.rate;
      let scheduled = 0;
      let rr = 0;
      await new Promise<void>((resolve) => {
        const tick = setInterval(() => {
          const now = performance.now();
          const due = Math.floor((Math.min(now, deadline) - start) * (rate / 1000)) - scheduled;
          for (let k = 0; k < due; k++) {
            scheduled++;
            if (outstanding >= MAX_IN_FLIGHT || live.length === 0) {
              skipped++;
              continue;
            }
            publish(live[rr++ % live.length] as Device);
          }
          if (now >= deadline) {
            clearInterval(tick);
            resolve();
          }
        }, 1);
      });
    } else {
      // Closed loop: every device (× window) publishes, waits, publishes again until the deadline.
      const window = cmd.qos === 1 ? Math.max(1, cmd.window ?? 1) : 1;
      const step = (d: Device) => {
        if (performance.now() >= deadline || !d.client.connected) return;
        // QoS 0: mqtt.js calls back synchronously unless the socket wants a drain; yield anyway.
        publish(d, cmd.qos === 1 ? () => step(d) : () => setImmediate(step, d));
      };
      for (const d of live) for (let w = 0; w < window; w++) step(d);
      // Loops stop at their next callback; PUBACKs still owed are awaited below.
      await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())));
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - start) / 1000;
    emit({ type: 'end', name: cmd.name, t: Date.now() });
    if (progress) clearInterval(progress);
    loop.disable();

    // QoS 0: the server has not necessarily read what was written (socket buffers hold a lot). Each
    // device ends with one QoS 1 point, a fence: the server handles a connection's packets in order,
    // so when every fence is PUBACKed, every QoS 0 point sent before it has been taken.
    let fences = 0;
    let fencesAcked = 0;
    let lastFenceAck = performance.now();
    const fenced =
      cmd.qos === 0
        ? new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, FENCE_MS);
            const check = () => {
              if (fencesAcked === fences) {
                clearTimeout(timer);
                resolve();
              }
            };
            for (const d of live) {
              if (!d.client.connected) continue;
              fences++;
              d.client.publish(d.topic, pointPayload(d, cmd.nonce), { qos: 1 }, (err) => {
                if (err) return noteError(err);
                fencesAcked++;
                lastFenceAck = performance.now();
                check();
              });
            }
            check();
          })
        : Promise.resolve();

    ended = true;
    checkSettled();
    const timer = setTimeout(() => {
      timedOut = true;
      settle();
    }, DRAIN_MS);
    await allSettled;
    clearTimeout(timer);
    await fenced;
    const errs = errors - errors0;
    const result: PhaseResult = {
      name: cmd.name,
      qos: cmd.qos,
      seconds,
      sent,
      acked: cmd.qos === 1 ? acked : 0,
      ackedLate,
      unacked: cmd.qos === 1 && timedOut ? outstanding : fences - fencesAcked,
      fences,
      ...(cmd.qos === 0 ? { processedSeconds: (lastFenceAck - start) / 1000 } : {}),
      skipped,
      errors: errs,
      disconnects: disconnects - disconnects0,
      ...(errs > 0 && firstError ? { firstError } : {}),
      latency: summarise(hist),
      payloadBytes: sent > 0 ? payloadBytes / sent : 0,
      cpuPercent: seconds > 0 ? (cpu.user + cpu.system) / 1e4 / seconds : 0,
      loopDelayP99: loop.count > 0 ? Math.max(0, loop.percentile(99) / 1e6 - 5) : 0,
    };
    firstError = undefined;
    return result;
  };

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line) as LoadCommand;
    if (cmd.cmd === 'quit') break;
    emit({ type: 'result', ...(await runPhase(cmd)) });
  }
  lines.close();
  await Promise.all(devices.map((d) => d.client.endAsync(true).catch(() => {})));
  process.exit(0);
};

main().catch((e: unknown) => {
  emit({ type: 'fatal', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
});

/**
 * A load process of `npm run bench -- gps`, run as its own process (`node dist/bench/gpsLoad.js
 * '<LoadConfig JSON>'`) so that its CPU is never counted as the server's; the bench runs several
 * (`--load-procs`), each with its own slice of the devices. Devices speak MQTT 3.1.1 over raw TCP
 * sockets from packets encoded once per device (bench/load/mqttWire.ts): a point is a buffer copy
 * and a few digit writes, and only CONNACK/PUBACK are read back. It connects its devices, then
 * takes commands as JSON lines on stdin and reports as JSON lines on stdout:
 *
 * - `{"cmd":"phase",...}` runs one timed phase: prints `start`, a `p` (progress: cumulative points
 *   sent and PUBACKed, wall-clock ms) every `progressMs`, an `s` (that second's publish→PUBACK
 *   histogram) every second, `end` at the deadline, then `result` once every PUBACK still owed has
 *   arrived (or 15 s passed).
 * - `{"cmd":"quit"}` closes every connection and exits.
 *
 * Phases without `rate` are closed loops: each device keeps `window` QoS 1 messages in flight and
 * publishes the next only when a PUBACK frees a slot (window 1 = stop-and-wait); at QoS 0 a device
 * writes a few points at a time whenever its socket takes them without backpressure, with one QoS 1
 * point after every 16 (it waits for that PUBACK), and after the deadline sends one QoS 1 point as a
 * fence (see `processedSeconds`). Phases with `rate` are open
 * loops: points go out on a fixed schedule (`rate` per second over all devices, round-robin)
 * whether or not PUBACKs came back.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { encodeLatency, type LatencyStats, latencyHistogram, latencyStats, recordMs } from './load/latency.js';
import {
  connectPacket,
  PAYLOAD_BYTES,
  PINGREQ,
  type PublishTemplate,
  packetReader,
  publishPacket,
  publishTemplate,
  setNonce,
} from './load/mqttWire.js';

export type { LatencyStats } from './load/latency.js';

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
  /** Keep-alive in s (a PINGREQ goes to every device every half of it). */
  keepalive?: number;
}

export interface PhaseCommand {
  cmd: 'phase';
  name: string;
  qos: 0 | 1;
  seconds: number;
  /** Points/s over all devices of this process (open loop); absent: closed loop. */
  rate?: number;
  /** Closed loop, QoS 1: messages in flight per device. Default 1 (stop-and-wait). */
  window?: number;
  /** Makes the point ids of this phase unique (the gateway dedupes on device + id). */
  nonce: string;
}
export type LoadCommand = PhaseCommand | { cmd: 'quit' };

export interface PhaseResult {
  name: string;
  qos: 0 | 1;
  /** Wall time of the timed part. */
  seconds: number;
  /** Points written to the sockets before the deadline. */
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
  /** The same, as an encoded HdrHistogram (µs), for merging the load processes' results. */
  latencyHistogram?: string;
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
  /** Second `i` of the phase: its publish→PUBACK histogram (encoded, µs); merged over processes: its p99. */
  | { type: 's'; i: number; h: string; p99Ms?: number }
  | { type: 'end'; name: string; t: number }
  | ({ type: 'result' } & PhaseResult)
  | { type: 'fatal'; message: string };

/** Cap on QoS 1 messages in flight in an open-loop phase (beyond it scheduled points are skipped). */
const MAX_IN_FLIGHT = 100_000;
const DRAIN_MS = 15_000;
/** QoS 0: how long the fences (see runPhase) may take; the server works through what the sockets hold. */
const FENCE_MS = 90_000;
/** QoS 0: points per socket write while the socket takes them (fewer system calls for the load). */
const QOS0_BURST = 8;
/** QoS 0: points a device sends before one QoS 1 point it waits for (bounds what the sockets hold). */
const QOS0_PER_FENCE = 16;

interface Device {
  id: string;
  socket: Socket;
  connected: boolean;
  qos1: PublishTemplate;
  qos0: PublishTemplate;
  seq: number;
  nextPacketId: number;
  /** Packet id → what to do on its PUBACK. */
  inFlight: Map<number, (now: number) => void>;
  lastWrite: number;
}

/** The device's next packet id not in flight (1..65535). */
const takePacketId = (d: Device) => {
  let pid: number;
  do {
    pid = d.nextPacketId;
    d.nextPacketId = pid === 65_535 ? 1 : pid + 1;
  } while (d.inFlight.has(pid));
  return pid;
};

const emit = (e: LoadEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);

const connectOne = (cfg: LoadConfig, id: string, token: string | undefined) =>
  new Promise<Device>((resolve, reject) => {
    const socket = connect({ host: cfg.host, port: cfg.port, noDelay: true });
    const lat = 40 + (Number(/\d+$/.exec(id)?.[0] ?? 0) % 200) * 0.1;
    const lon = 10 + (Number(/\d+$/.exec(id)?.[0] ?? 0) % 300) * 0.1;
    const topic = `v1/devices/${id}/location`;
    const d: Device = {
      id,
      socket,
      connected: false,
      qos1: publishTemplate(topic, 1, lat, lon),
      qos0: publishTemplate(topic, 0, lat, lon),
      seq: 0,
      nextPacketId: 1,
      inFlight: new Map(),
      lastWrite: performance.now(),
    };
    const timer = setTimeout(() => fail(new Error(`${id}: no CONNACK within 60 s`)), 60_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(e);
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`${id}: closed before CONNACK`)));
    socket.on(
      'data',
      packetReader((first, body) => {
        const type = first >> 4;
        if (type === 4) {
          // PUBACK
          const pid = ((body[0] as number) << 8) | (body[1] as number);
          const onAck = d.inFlight.get(pid);
          if (onAck) {
            d.inFlight.delete(pid);
            onAck(performance.now());
          }
        } else if (type === 2 && !d.connected) {
          clearTimeout(timer);
          socket.removeAllListeners('error');
          socket.removeAllListeners('close');
          if (body[1] !== 0) return fail(new Error(`${id}: CONNACK return code ${body[1]}`));
          d.connected = true;
          resolve(d);
        }
      }),
    );
    socket.once('connect', () => socket.write(connectPacket(id, cfg.keepalive ?? 60, token)));
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
      const c = creds[next++] as { id: string; token: string | undefined };
      try {
        const d = await connectOne(cfg, c.id, c.token);
        d.socket.on('close', () => {
          d.connected = false;
          disconnects++;
        });
        d.socket.on('error', noteError);
        devices.push(d);
      } catch (e) {
        failed++;
        firstError ??= (e as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency ?? 100, creds.length) }, connector));
  emit({ type: 'connected', devices: devices.length, failed, ms: performance.now() - t0, ...(firstError ? { firstError } : {}) });
  firstError = undefined;

  // Keep-alive: the broker drops a connection silent for 1.5 × keepalive.
  const keepaliveMs = (cfg.keepalive ?? 60) * 500;
  const pinger = setInterval(() => {
    const stale = performance.now() - keepaliveMs;
    for (const d of devices)
      if (d.connected && d.lastWrite < stale) {
        d.socket.write(PINGREQ);
        d.lastWrite = performance.now();
      }
  }, 5_000);

  const runPhase = async (cmd: PhaseCommand): Promise<PhaseResult> => {
    const hist = latencyHistogram();
    let second = latencyHistogram();
    const loop = monitorEventLoopDelay({ resolution: 5 });
    let sent = 0;
    let acked = 0;
    let ackedLate = 0;
    let skipped = 0;
    let outstanding = 0;
    let timedOut = false;
    const errors0 = errors;
    const disconnects0 = disconnects;
    const durationMs = cmd.seconds * 1000;
    for (const d of devices) {
      setNonce(d.qos1, cmd.nonce);
      setNonce(d.qos0, cmd.nonce);
    }
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

    /** One QoS 1 point; `then` runs on its PUBACK. */
    const publish1 = (d: Device, then?: () => void) => {
      const pid = takePacketId(d);
      const at = performance.now();
      sent++;
      outstanding++;
      d.inFlight.set(pid, (now) => {
        outstanding--;
        if (now <= deadline) acked++;
        else ackedLate++;
        hist.recordValue(Math.max(1, Math.round((now - at) * 1000)));
        if (now <= deadline) recordMs(second, now - at);
        then?.();
        checkSettled();
      });
      d.lastWrite = at;
      d.socket.write(publishPacket(d.qos1, ++d.seq, pid, Date.now()));
    };

    loop.enable();
    const cpu0 = process.cpuUsage();
    emit({ type: 'start', name: cmd.name, t: Date.now() });
    const progress =
      (cfg.progressMs ?? 0) > 0 ? setInterval(() => emit({ type: 'p', t: Date.now(), sent, acked }), cfg.progressMs) : undefined;
    let secondIndex = 0;
    const perSecond =
      cmd.qos === 1
        ? setInterval(() => {
            emit({ type: 's', i: secondIndex++, h: encodeLatency(second) });
            second = latencyHistogram();
          }, 1_000)
        : undefined;
    const live = devices.filter((d) => d.connected);

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
            const d = live[rr++ % live.length];
            if (outstanding >= MAX_IN_FLIGHT || !d?.connected) {
              skipped++;
              continue;
            }
            if (cmd.qos === 1) publish1(d);
            else {
              sent++;
              d.socket.write(publishPacket(d.qos0, ++d.seq, 0, Date.now()));
            }
          }
          if (now >= deadline) {
            clearInterval(tick);
            resolve();
          }
        }, 1);
      });
    } else if (cmd.qos === 1) {
      // Closed loop: every device (× window) publishes, waits for its PUBACK, publishes again until the deadline.
      const window = Math.max(1, cmd.window ?? 1);
      const step = (d: Device) => {
        if (performance.now() >= deadline || !d.connected) return;
        publish1(d, () => step(d));
      };
      for (const d of live) for (let w = 0; w < window; w++) step(d);
      // Loops stop at their next PUBACK; those still owed are awaited below.
      await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())));
    } else {
      // QoS 0: a few points per write while the socket takes them, else wait for it to drain; every
      // QOS0_PER_FENCE points one QoS 1 point, and the device waits for its PUBACK. Unbounded, the
      // kernel's socket buffers held minutes of points a slow server then read with its sockets
      // paused, past the keep-alive (the gateway dropped the devices).
      const unfenced = new Map<Device, number>();
      const step = (d: Device) => {
        if (performance.now() >= deadline || !d.connected) return;
        if ((unfenced.get(d) ?? 0) >= QOS0_PER_FENCE) {
          unfenced.set(d, 0);
          publish1(d, () => step(d));
          return;
        }
        unfenced.set(d, (unfenced.get(d) ?? 0) + QOS0_BURST);
        const now = Date.now();
        const burst = Array.from({ length: QOS0_BURST }, () => publishPacket(d.qos0, ++d.seq, 0, now));
        sent += QOS0_BURST;
        d.lastWrite = performance.now();
        if (d.socket.write(Buffer.concat(burst))) setImmediate(step, d);
        else d.socket.once('drain', () => step(d));
      };
      for (const d of live) step(d);
      await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())));
    }
    const cpu = process.cpuUsage(cpu0);
    const seconds = (performance.now() - start) / 1000;
    emit({ type: 'end', name: cmd.name, t: Date.now() });
    if (progress) clearInterval(progress);
    if (perSecond) clearInterval(perSecond);
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
              if (!d.connected) continue;
              fences++;
              const pid = takePacketId(d);
              d.inFlight.set(pid, (now) => {
                fencesAcked++;
                lastFenceAck = now;
                check();
              });
              d.socket.write(publishPacket(d.qos1, ++d.seq, pid, Date.now()));
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
      latency: latencyStats(hist),
      latencyHistogram: encodeLatency(hist),
      payloadBytes: PAYLOAD_BYTES,
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
  clearInterval(pinger);
  for (const d of devices) d.socket.end(Buffer.from([0xe0, 0x00]));
  await new Promise((r) => setTimeout(r, 200));
  process.exit(0);
};

main().catch((e: unknown) => {
  emit({ type: 'fatal', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exit(1);
});

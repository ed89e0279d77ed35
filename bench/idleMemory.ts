/**
 * Where the embedded gateway's memory goes with many idle MQTT devices (issue 21, item 3):
 * `npm run bench -- idle-memory [--devices=10000] [--settle=30] [--env=NAME=VALUE ...]`.
 *
 * Starts `fleetgate start` on a fresh DATA_DIR (embedded: PGlite, chdb, all roles), registers the
 * devices through the API, then connects them from separate load processes (this file again,
 * `--connector`: raw sockets with pre-encoded CONNECT packets, so the load costs next to nothing)
 * and samples the gateway three times: ready, devices registered, devices connected and settled.
 * Each sample splits the RSS by where it lives (`/proc/<pid>/smaps`: the V8 heap is not visible
 * there, so the heap figures come from the gateway's own `/metrics`):
 *
 * - `wasm`: anonymous mappings reserved ≥ 4 GiB, which is how V8 reserves a WebAssembly memory
 *   (PGlite's Postgres; its 8 GiB guard region keeps RSS only for touched pages);
 * - `chdb`: the file mappings of libchdb.so (code and data the engine touched);
 * - `other files`: node, other shared objects;
 * - `anonymous`: everything else — V8's heap, malloc (glibc: Node, uWS, Aedes' socket buffers;
 *   chdb's own allocations), thread stacks.
 *
 * `--env=NAME=VALUE` (repeatable) sets gateway variables for an A/B in the same session.
 * The gateway runs with `npm start`'s V8 flags (`V8_MEMORY_FLAGS`, core/mallocTuning.ts);
 * `BENCH_GATEWAY_NODE_OPTIONS` passes other Node flags instead (empty: V8's defaults; the low-memory
 * choice: `V8_LOW_MEMORY_FLAGS`). `--heap-snapshot` takes V8 heap snapshots of the
 * gateway once the devices are registered and once they are connected and settled (into its
 * DATA_DIR, deleted after) and prints what grew, by type and constructor, and who holds the small
 * Buffers and arrays. Use it with fewer devices (1,000–2,000); writing a snapshot costs the gateway
 * a few hundred MiB of RSS itself, so its RSS figures are not comparable with a run without it.
 * The `PGlite wasm` column finds only a WebAssembly memory reserved with guard regions; PGlite's
 * memory in its worker thread is counted under `anonymous` (no mapping tells it apart).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_KEY, startGateway, stop } from './api.js';
import type { BenchFigure, BenchResult } from './results.js';
import { fmtInt, freePort, metric, pool, table, tempDir } from './support.js';

const MiB = 1024 * 1024;
/** Devices per connector process (one process holds 5,000 sockets in about 60 MB). */
const PER_CONNECTOR = 5_000;

// ---------------------------------------------------------------------------------------------
// The connector process: raw MQTT 3.1.1 CONNECTs, then nothing but keeping the sockets open.

const field = (s: string) => {
  const b = Buffer.from(s);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
};
const connectPacket = (id: string, token: string, keepalive: number) => {
  const keep = Buffer.alloc(2);
  keep.writeUInt16BE(keepalive);
  const body = Buffer.concat([field('MQTT'), Buffer.from([4, 0xc2]), keep, field(id), field(id), field(token)]);
  const len: number[] = [];
  let n = body.length;
  do {
    len.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x10, ...len]), body]);
};

interface ConnectorJob {
  port: number;
  devices: { id: string; token: string }[];
}

/** Connects every device (50 at a time), reports `{ connected, refused }`, and holds the sockets until told to quit. */
const runConnector = async (job: ConnectorJob) => {
  const sockets: Socket[] = [];
  let connected = 0;
  let refused = 0;
  const one = (d: { id: string; token: string }) =>
    new Promise<void>((resolve) => {
      const s = tcpConnect(job.port, '127.0.0.1');
      sockets.push(s);
      const done = (ok: boolean) => {
        if (ok) connected++;
        else refused++;
        resolve();
      };
      s.once('connect', () => s.write(connectPacket(d.id, d.token, 600)));
      // CONNACK: 0x20 0x02 <flags> <return code>
      s.once('data', (b: Buffer) => done(b[0] === 0x20 && b[3] === 0));
      s.once('error', () => done(false));
      // Keeps PINGRESPs and anything else from piling up in this process.
      s.on('data', () => {});
    });
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < job.devices.length) {
        const d = job.devices[next++];
        if (d) await one(d);
      }
    }),
  );
  process.send?.({ connected, refused });
  process.on('message', (m) => {
    if (m === 'quit') {
      for (const s of sockets) s.destroy();
      process.exit(0);
    }
  });
};

// ---------------------------------------------------------------------------------------------
// Sampling the gateway

interface MemorySample {
  label: string;
  rssMiB: number;
  wasmMiB: number;
  chdbMiB: number;
  otherFilesMiB: number;
  anonymousMiB: number;
  /** V8: used and committed heap, per space (from the gateway's /metrics). */
  heapUsedMiB: number;
  heapTotalMiB: number;
  /** `process.memoryUsage().external` (ArrayBuffers incl. Buffers; not WASM memory). */
  externalMiB: number;
  spaces: Record<string, number>;
  mqttConnections: number;
}

/** RSS of each mapping of `pid`, grouped as described at the top. */
const smapsGroups = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const groups = { wasm: 0, chdb: 0, otherFiles: 0, anonymous: 0 };
  let size = 0;
  let path = '';
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      size = (Number.parseInt(head[2] as string, 16) - Number.parseInt(head[1] as string, 16)) / 1024;
      path = head[3] ?? '';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const kb = Number(rss[1]);
    if (path.includes('chdb')) groups.chdb += kb;
    else if (path.startsWith('/')) groups.otherFiles += kb;
    else if (path === '' && size >= 4 * 1024 * 1024) groups.wasm += kb;
    else groups.anonymous += kb;
  }
  return groups;
};

const rssMiBOf = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
};

const sample = async (label: string, pid: number, metricsUrl: string): Promise<MemorySample> => {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const g = smapsGroups(pid);
  const spaces: Record<string, number> = {};
  for (const m of text.matchAll(/^fleetgate_nodejs_heap_space_size_used_bytes\{space="([^"]+)"\} (\S+)$/gm)) {
    spaces[m[1] as string] = Number(m[2]) / MiB;
  }
  return {
    label,
    rssMiB: rssMiBOf(pid),
    wasmMiB: g.wasm / 1024,
    chdbMiB: g.chdb / 1024,
    otherFilesMiB: g.otherFiles / 1024,
    anonymousMiB: g.anonymous / 1024,
    heapUsedMiB: metric(text, 'fleetgate_nodejs_heap_size_used_bytes') / MiB,
    heapTotalMiB: metric(text, 'fleetgate_nodejs_heap_size_total_bytes') / MiB,
    externalMiB: metric(text, 'fleetgate_nodejs_external_memory_bytes') / MiB,
    spaces,
    mqttConnections: metric(text, 'fleetgate_mqtt_connections'),
  };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Groups whose holders are counted too (`held by` rows): what keeps the many small Buffers and arrays of a connection alive. */
const TRACED = new Set(['object Buffer', 'array ']);

/** The snapshot's objects grouped by type and constructor name: count and bytes. */
const heapGroups = (file: string) => {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const groups = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt] as number] as string;
    const name =
      type === 'object' || type === 'closure' || type === 'native' ? (snap.strings[snap.nodes[i + nameAt] as number] ?? '?') : '';
    const key = `${type} ${name.slice(0, 60)}`;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[i + sizeAt] as number;
    groups.set(key, g);
  }
  // Holders of the traced groups: the object, and the property, that refers to each.
  const edgeWidth = snap.snapshot.meta.edge_fields.length;
  const edgeTypeAt = snap.snapshot.meta.edge_fields.indexOf('type');
  const edgeNameAt = snap.snapshot.meta.edge_fields.indexOf('name_or_index');
  const toAt = snap.snapshot.meta.edge_fields.indexOf('to_node');
  const edgeTypes = snap.snapshot.meta.edge_types[0];
  const countAt = fields.indexOf('edge_count');
  const keyOf = (i: number) => {
    const type = types[snap.nodes[i + typeAt] as number] as string;
    const name =
      type === 'object' || type === 'closure' || type === 'native' ? (snap.strings[snap.nodes[i + nameAt] as number] ?? '?') : '';
    return `${type} ${name.slice(0, 40)}`;
  };
  let e = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const edges = snap.nodes[i + countAt] as number;
    for (let k = 0; k < edges; k++, e += edgeWidth) {
      const et = edgeTypes[snap.edges[e + edgeTypeAt] as number] as string;
      if (et === 'weak') continue;
      const to = snap.edges[e + toAt] as number;
      const target = keyOf(to);
      if (!TRACED.has(target)) continue;
      const raw = snap.edges[e + edgeNameAt] as number;
      const edgeName = et === 'element' || et === 'hidden' ? `[${et}]` : (snap.strings[raw] ?? '?').slice(0, 30);
      const key = `${target.trim()} held by ${keyOf(i).trim()} .${edgeName}`;
      const g = groups.get(key) ?? { count: 0, bytes: 0 };
      g.count++;
      g.bytes += snap.nodes[to + sizeAt] as number;
      groups.set(key, g);
    }
  }
  return groups;
};

/** What `after` holds beyond `before`, by group, largest growth first. */
const heapGrowth = (
  before: Map<string, { count: number; bytes: number }>,
  after: Map<string, { count: number; bytes: number }>,
  top: number,
) =>
  [...after.entries()]
    .map(([k, g]) => [k, { count: g.count - (before.get(k)?.count ?? 0), bytes: g.bytes - (before.get(k)?.bytes ?? 0) }] as const)
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .slice(0, top);

/** Waits for the snapshot V8 writes on SIGUSR2 (`--heapsnapshot-signal`) to appear and stop growing; read, then deleted. */
const takeHeapSnapshot = async (pid: number, dir: string) => {
  for (const f of readdirSync(dir)) if (f.endsWith('.heapsnapshot')) unlinkSync(join(dir, f));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 180_000;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(2_000);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === last) {
      const groups = heapGroups(join(dir, file));
      unlinkSync(join(dir, file));
      return groups;
    }
    last = size;
  }
  throw new Error('no heap snapshot within 180 s');
};

export const runIdleMemoryBench = async (args: string[]): Promise<BenchResult> => {
  const startedAt = new Date();
  const opt = (name: string) =>
    args
      .find((a) => a.startsWith(`--${name}=`))
      ?.split('=')
      .slice(1)
      .join('=');
  const devices = Number(opt('devices') ?? 10_000);
  const settle = Number(opt('settle') ?? 30);
  const env = Object.fromEntries(
    args
      .filter((a) => a.startsWith('--env='))
      .map((a) => {
        const [k, ...v] = a.slice('--env='.length).split('=');
        return [k as string, v.join('=')];
      }),
  );
  const dir = await tempDir('fg-bench-idle-');
  const mqttPort = await freePort();
  const heapSnapshot = args.includes('--heap-snapshot');
  const gw = await startGateway(
    // Every device connects from 127.0.0.1: the per-address connect rate would refuse most.
    { DATA_DIR: dir.dir, MQTT_PORT: String(mqttPort), MQTT_CONNECTS_PER_IP_PER_MINUTE: '0', ...env },
    'ingest,api,projections,handlers',
    // startGateway adds npm start's V8 flags (or BENCH_GATEWAY_NODE_OPTIONS).
    heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir.dir}`] : [],
  );
  const pid = gw.child.pid as number;
  const connectors: ChildProcess[] = [];
  const samples: MemorySample[] = [];
  try {
    console.error(
      `gateway pid ${pid}, MQTT port ${mqttPort}, env ${JSON.stringify(env)}, flags ${JSON.stringify(gw.child.spawnargs.slice(1, -4))}`,
    );
    await sleep(3_000);
    samples.push(await sample('ready', pid, gw.metricsUrl));
    const creds: { id: string; token: string }[] = new Array(devices);
    const t0 = performance.now();
    await pool(devices, 16, async (i) => {
      const id = `idle-${i}`;
      const res = await fetch(`${gw.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id }),
      });
      const body = (await res.json()) as { token?: string };
      if (res.status !== 201 || !body.token) throw new Error(`registering ${id}: ${res.status} ${JSON.stringify(body)}`);
      creds[i] = { id, token: body.token };
    });
    console.error(`registered ${fmtInt(devices)} devices in ${fmtInt(performance.now() - t0)} ms`);
    await sleep(3_000);
    samples.push(await sample('registered', pid, gw.metricsUrl));
    const heapBefore = heapSnapshot ? await takeHeapSnapshot(pid, dir.dir) : undefined;

    const t1 = performance.now();
    const results = await Promise.all(
      Array.from({ length: Math.ceil(devices / PER_CONNECTOR) }, (_, k) => {
        const child = fork(fileURLToPath(import.meta.url), ['--connector'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        connectors.push(child);
        child.send({ port: mqttPort, devices: creds.slice(k * PER_CONNECTOR, (k + 1) * PER_CONNECTOR) } satisfies ConnectorJob);
        return new Promise<{ connected: number; refused: number }>((resolve, reject) => {
          child.once('message', (m) => resolve(m as { connected: number; refused: number }));
          child.once('exit', (code) => reject(new Error(`connector exited with ${code}`)));
        });
      }),
    );
    const connected = results.reduce((s, r) => s + r.connected, 0);
    const refused = results.reduce((s, r) => s + r.refused, 0);
    console.error(
      `connected ${fmtInt(connected)} (refused ${refused}) in ${fmtInt(performance.now() - t1)} ms; settling ${settle} s`,
    );
    samples.push(await sample('connected', pid, gw.metricsUrl));
    await sleep(settle * 1000);
    samples.push(await sample(`settled ${settle} s`, pid, gw.metricsUrl));

    const f = (n: number) => fmtInt(Math.round(n));
    console.log(
      `\nembedded gateway, ${fmtInt(devices)} idle MQTT devices (MiB; heap from /metrics, the rest from /proc/${pid}/smaps)\n`,
    );
    console.log(
      table(
        [
          'when',
          'RSS',
          'PGlite wasm',
          'chdb .so',
          'other files',
          'anonymous',
          'V8 heap used',
          'V8 heap committed',
          'external',
          'connections',
        ],
        samples.map((s) => [
          s.label,
          f(s.rssMiB),
          f(s.wasmMiB),
          f(s.chdbMiB),
          f(s.otherFilesMiB),
          f(s.anonymousMiB),
          f(s.heapUsedMiB),
          f(s.heapTotalMiB),
          f(s.externalMiB),
          fmtInt(s.mqttConnections),
        ]),
      ),
    );
    const before = samples[1] as MemorySample;
    const after = samples[samples.length - 1] as MemorySample;
    const per = (a: number, b: number) => fmtInt(Math.round(((b - a) * MiB) / Math.max(1, connected)));
    console.log(
      `\nper connected device: RSS ${per(before.rssMiB, after.rssMiB)} B, anonymous ${per(before.anonymousMiB, after.anonymousMiB)} B, V8 heap used ${per(before.heapUsedMiB, after.heapUsedMiB)} B, external ${per(before.externalMiB, after.externalMiB)} B`,
    );
    console.log(
      `V8 heap spaces used, settled: ${Object.entries(after.spaces)
        .map(([k, v]) => `${k} ${f(v)}`)
        .join(', ')}`,
    );
    if (heapBefore) {
      const growth = heapGrowth(heapBefore, await takeHeapSnapshot(pid, dir.dir), 45);
      console.log('\nV8 heap growth from registered to settled (heap snapshots), by type and constructor:');
      console.log(
        table(
          ['type and constructor', 'count', 'MiB', 'bytes per device'],
          growth.map(([k, g]) => [
            k,
            fmtInt(g.count),
            (g.bytes / MiB).toFixed(1),
            fmtInt(Math.round(g.bytes / Math.max(1, connected))),
          ]),
        ),
      );
    }
    const flags = gw.child.spawnargs.slice(1, -4);
    console.log(`JSON ${JSON.stringify({ devices, connected, refused, env, flags, samples })}`);
    const settled = samples.at(-1) as MemorySample;
    const part = (key: string, label: string, value: number): BenchFigure => ({
      key: `idle_memory.settled.${key}`,
      label: `${fmtInt(devices)} idle devices, settled ${settle} s: ${label}`,
      value,
      unit: 'MiB',
    });
    return {
      bench: 'idle-memory',
      seed: 0,
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      options: { devices, settle, flags: flags.join(' '), env: JSON.stringify(env) },
      figures: [
        {
          ...part('rss_mib', 'gateway RSS (embedded default, all roles)', settled.rssMiB),
          target: { kind: 'bound', atMost: 600, text: '< 600 MiB with 10,000 idle devices (issue 21)' },
          ...(devices === 10_000 ? {} : { notJudged: 'the target is stated for 10,000 devices' }),
        },
        part('chdb_mib', "chdb's library pages (file-backed)", settled.chdbMiB),
        part('anonymous_mib', 'anonymous memory (V8, PGlite, malloc)', settled.anonymousMiB),
        part('heap_used_mib', 'V8 heap used', settled.heapUsedMiB),
        part('heap_committed_mib', 'V8 heap committed', settled.heapTotalMiB),
      ],
      series: [],
      notes: [
        `samples (RSS MiB): ${samples.map((x) => `${x.label} ${fmtInt(x.rssMiB)}`).join(', ')}; node flags ${flags.join(' ') || "V8's defaults"}`,
      ],
      correct: refused === 0 && connected === devices,
    };
  } finally {
    for (const c of connectors) if (c.connected) c.send('quit');
    await stop(gw.child);
    await dir.remove();
  }
};

if (process.argv.includes('--connector')) {
  process.once('message', (job) => void runConnector(job as ConnectorJob));
}

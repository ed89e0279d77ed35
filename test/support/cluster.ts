import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type GatewayProcess, runCli } from './gatewayProcess.js';
import { freePort, NATS_SERVER_BIN, stablePort } from './natsServer.js';
import { until } from './until.js';

export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

const exited = (child: ChildProcess | undefined) =>
  !child || child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/** Is a child still running (no exit seen yet)? */
const alive = (child: ChildProcess | undefined) => !!child && child.exitCode === null && child.signalCode === null;

export interface NatsNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly monitorPort: number;
  readonly storeDir: string;
  running(): boolean;
  /** SIGKILL (a crash); the store directory stays for the restart. */
  kill(): Promise<void>;
  /** Starts the node again on the same ports and store. */
  start(): Promise<void>;
  /** The server's own log (stderr), the last 64 kB. */
  log(): string;
}

export interface NatsCluster {
  nodes: readonly NatsNode[];
  /** Every node's client URL, comma-separated (NATS_URL). */
  natsUrl: string;
  urls: string[];
  /** The node currently leading `stream` (its RAFT group), once one is elected. */
  streamLeader(stream: string, timeoutMs?: number): Promise<NatsNode>;
  /** Every node running and answering /healthz (JetStream current). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const nodeConfig = (
  n: { name: string; port: number; clusterPort: number; monitorPort: number; storeDir: string },
  routes: number[],
) => `
server_name: ${n.name}
listen: 127.0.0.1:${n.port}
http: 127.0.0.1:${n.monitorPort}
jetstream {
  store_dir: "${n.storeDir}"
  max_memory_store: 64MB
  max_file_store: 2GB
}
cluster {
  name: fgtest
  listen: 127.0.0.1:${n.clusterPort}
  routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(', ')}]
}
`;

/**
 * Three nats-server processes (the machine's 2.9.10 unless NATS_SERVER_BIN says otherwise) in one
 * JetStream cluster on 127.0.0.1. Ports sit below the ephemeral range, so a killed node comes
 * back on the same ones (its peers' routes and the gateways' server lists name them).
 */
export const startNatsCluster = async (size = 3): Promise<NatsCluster> => {
  const dir = await mkdtemp(join(tmpdir(), 'fg-nats-cluster-'));
  const specs: { name: string; port: number; clusterPort: number; monitorPort: number; storeDir: string }[] = [];
  for (let i = 1; i <= size; i++) {
    const storeDir = join(dir, `n${i}`);
    await mkdir(storeDir, { recursive: true });
    specs.push({
      name: `n${i}`,
      port: await stablePort(),
      clusterPort: await stablePort(),
      monitorPort: await stablePort(),
      storeDir,
    });
  }
  const nodes = await Promise.all(
    specs.map(async (spec) => {
      const conf = join(dir, `${spec.name}.conf`);
      await writeFile(
        conf,
        nodeConfig(
          spec,
          specs.filter((s) => s !== spec).map((s) => s.clusterPort),
        ),
      );
      let child: ChildProcess | undefined;
      let log = '';
      const node: NatsNode = {
        name: spec.name,
        port: spec.port,
        url: `nats://127.0.0.1:${spec.port}`,
        monitorPort: spec.monitorPort,
        storeDir: spec.storeDir,
        running: () => alive(child),
        log: () => log,
        async kill() {
          const c = child;
          if (!alive(c)) return;
          c?.kill('SIGKILL');
          await exited(c);
        },
        async start() {
          if (alive(child)) return;
          const c = spawn(NATS_SERVER_BIN, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
          child = c;
          c.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
            log = (log + chunk).slice(-64_000);
          });
          // Accepting clients is enough here: JetStream health across the cluster is waitHealthy's job.
          await until(
            async () => {
              if (!alive(c)) throw new Error(`${spec.name} exited:\n${log}`);
              return fetch(`http://127.0.0.1:${spec.monitorPort}/varz`).then(
                (r) => r.ok,
                () => false,
              );
            },
            { timeoutMs: 15_000, intervalMs: 50, what: `${spec.name} listening` },
          );
        },
      };
      return node;
    }),
  );
  await Promise.all(nodes.map((n) => n.start()));

  const healthy = (n: NatsNode) =>
    fetch(`http://127.0.0.1:${n.monitorPort}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
  const urls = nodes.map((n) => n.url);
  const cluster: NatsCluster = {
    nodes,
    urls,
    natsUrl: urls.join(','),
    async waitHealthy(timeoutMs = 30_000) {
      await until(async () => (await Promise.all(nodes.map((n) => n.running() && healthy(n)))).every(Boolean), {
        timeoutMs,
        intervalMs: 100,
        what: 'NATS cluster healthy',
      });
    },
    async streamLeader(stream, timeoutMs = 30_000) {
      return until(
        async () => {
          const up = nodes.filter((n) => n.running()).map((n) => n.url);
          const nc = await connect({ servers: up, timeout: 2_000, reconnect: false }).catch(() => undefined);
          if (!nc) return undefined;
          try {
            const jsm = await jetstreamManager(nc, { timeout: 2_000 });
            const info = await jsm.streams.info(stream);
            return nodes.find((n) => n.name === info.cluster?.leader && n.running());
          } catch {
            return undefined;
          } finally {
            await nc.close().catch(() => {});
          }
        },
        { timeoutMs, intervalMs: 200, what: `leader of ${stream}` },
      );
    },
    async close() {
      await Promise.all(nodes.map((n) => n.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  await cluster.waitHealthy();
  return cluster;
};

export interface Balancer {
  /** The MQTT (TCP) front end. */
  mqttPort: number;
  /** The HTTP/WebSocket front end. */
  httpPort: number;
  httpBase: string;
  /** The backends HAProxy's health checks see as up, by name (`g1`, `g2`…). */
  backendsUp(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface BalancedGateway {
  name: string;
  httpPort: number;
  mqttPort: number;
}

/**
 * HAProxy in front of the gateways: MQTT as TCP (least connections), HTTP and WebSocket in http
 * mode; both check each gateway's `/readyz` every 500 ms and cut the sessions of one that goes
 * down, so its devices reconnect to another. The stats socket answers `backendsUp`.
 */
export const startBalancer = async (gateways: readonly BalancedGateway[]): Promise<Balancer> => {
  const dir = await mkdtemp(join(tmpdir(), 'fg-haproxy-'));
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const statsPort = await freePort();
  const servers = (kind: 'mqtt' | 'http') =>
    gateways
      .map(
        (g) =>
          `  server ${g.name} 127.0.0.1:${kind === 'mqtt' ? g.mqttPort : g.httpPort} check port ${g.httpPort} inter 500 fall 2 rise 2 on-marked-down shutdown-sessions`,
      )
      .join('\n');
  const cfg = `
global
  maxconn 8000

defaults
  timeout connect 2s
  timeout client 120s
  timeout server 120s
  timeout tunnel 1h
  retries 2
  option redispatch

frontend mqtt
  mode tcp
  bind 127.0.0.1:${mqttPort}
  default_backend mqtt

backend mqtt
  mode tcp
  balance leastconn
  option httpchk
  http-check send meth GET uri /readyz ver HTTP/1.1 hdr host localhost
${servers('mqtt')}

frontend http
  mode http
  bind 127.0.0.1:${httpPort}
  default_backend http

backend http
  mode http
  balance roundrobin
  option httpchk
  http-check send meth GET uri /readyz ver HTTP/1.1 hdr host localhost
  retry-on conn-failure empty-response response-timeout
${servers('http')}

frontend stats
  mode http
  bind 127.0.0.1:${statsPort}
  stats enable
  stats uri /stats
`;
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, cfg);
  const child = spawn(HAPROXY_BIN, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (log = (log + c).slice(-32_000)));
  const serverRows = async () => {
    const csv = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`).then((r) => r.text());
    return csv
      .split('\n')
      .map((l) => l.split(','))
      .filter((f) => f[0] === 'mqtt' && f[1] !== 'BACKEND' && f[1] !== 'FRONTEND');
  };
  const backendsUp = async () => (await serverRows()).filter((f) => f[17] === 'UP').map((f) => f[1] as string);
  try {
    await until(
      async () => {
        if (!alive(child)) throw new Error(`haproxy exited:\n${log}`);
        return (await backendsUp().catch(() => [])).length === gateways.length;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: 'haproxy sees every gateway up',
      },
    );
  } catch (e) {
    const status = await serverRows().catch(() => []);
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `${(e as Error).message}; checks: ${status.map((f) => `${f[1]} ${f[17]} ${f[36]} ${f[64] ?? ''}`).join('; ')}`,
    );
  }
  return {
    mqttPort,
    httpPort,
    httpBase: `http://127.0.0.1:${httpPort}`,
    backendsUp,
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
};

export interface ClusterGateway extends BalancedGateway {
  process: GatewayProcess;
  base: string;
  metricsPort: number;
  dataDir: string;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
  /** SIGTERM, waits for the exit. */
  stop(): Promise<void>;
  metrics(): Promise<string>;
}

/**
 * A gateway process (the built CLI, `dist/`) on the cluster: every role unless `roles` says,
 * R3 streams, the shared Postgres database. ClickHouse-backed parts stay off (GPS_TRACKING_ENABLED
 * false): no ClickHouse server can run here, and a private chdb per process is not shared state.
 */
export const startClusterGateway = async (opts: {
  name: string;
  natsUrl: string;
  databaseUrl: string;
  adminKey: string;
  roles?: string;
  env?: Record<string, string>;
}): Promise<ClusterGateway> => {
  const dataDir = await mkdtemp(join(tmpdir(), `fg-gw-${opts.name}-`));
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const metricsPort = await freePort();
  const p = runCli(['start', ...(opts.roles ? ['--roles', opts.roles] : [])], {
    DATA_DIR: dataDir,
    HTTP_PORT: String(httpPort),
    MQTT_PORT: String(mqttPort),
    OSMAND_PORT: String(await freePort()),
    METRICS_PORT: String(metricsPort),
    NATS_URL: opts.natsUrl,
    NATS_STREAM_REPLICAS: '3',
    DATABASE_URL: opts.databaseUrl,
    ADMIN_API_KEY: opts.adminKey,
    GPS_TRACKING_ENABLED: 'false',
    INGEST_THREAD: 'main',
    PROJECTION_LEASE_POLL_MS: '500',
    LOG_LEVEL: process.env.CLUSTER_LOG_LEVEL ?? 'warn',
    ...opts.env,
  });
  const base = `http://127.0.0.1:${httpPort}`;
  await p.waitHealthy(`${base}/readyz`, 120_000);
  return {
    name: opts.name,
    httpPort,
    mqttPort,
    metricsPort,
    base,
    dataDir,
    process: p,
    async kill() {
      p.child.kill('SIGKILL');
      await p.exited;
    },
    async stop() {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      await p.exited;
      await rm(dataDir, { recursive: true, force: true });
    },
    metrics: () => fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()),
  };
};

/** A Prometheus sample's value from a `/metrics` text (sum over the series that match every label given). */
export const metricValue = (text: string, name: string, labels: Record<string, string> = {}) => {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
};

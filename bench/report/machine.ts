/**
 * What the machine was while a run measured it: CPU, cores, memory, load average, and the versions
 * of what the benches drive (Node, nats-server, Postgres). A figure means little without these on
 * a machine shared with other work.
 */
import { execFile } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { PG_ADMIN_URL } from '../support.js';

const run = promisify(execFile);
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface MachineFacts {
  cpuModel: string;
  cores: number;
  memoryMiB: number;
  platform: string;
  node: string;
  natsServer: string;
  postgres: string;
  /** 1, 5 and 15 minute load averages */
  loadBefore: number[];
  loadAfter?: number[];
}

const natsVersion = async () => {
  try {
    const { stdout } = await run(NATS_SERVER, ['--version'], { timeout: 5_000 });
    return stdout.trim();
  } catch (e) {
    return `unknown (${(e as Error).message.split('\n')[0]})`;
  }
};

const postgresVersion = async () => {
  const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    const [row] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
    return row?.v ?? 'unknown';
  } catch (e) {
    return `unknown (${(e as Error).message})`;
  } finally {
    await sql.end({ timeout: 1 });
  }
};

export const loadAverage = () => loadavg().map((x) => Math.round(x * 100) / 100);

export const machineFacts = async (): Promise<MachineFacts> => ({
  cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
  cores: cpus().length,
  memoryMiB: Math.round(totalmem() / 2 ** 20),
  platform: `${process.platform} ${process.arch}`,
  node: process.version,
  natsServer: await natsVersion(),
  postgres: await postgresVersion(),
  loadBefore: loadAverage(),
});

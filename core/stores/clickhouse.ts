import { mkdir } from 'node:fs/promises';
import { type ClickHouseClient, createClient } from '@clickhouse/client';

export interface ClickHouseStore {
  client: ClickHouseClient;
  /** `chdb` in embedded mode (inside this process), else `server`. */
  target: 'chdb' | 'server';
  close(): Promise<void>;
}

export interface ClickHouseConfig {
  url?: string | undefined;
  chdbDir: string;
}

/**
 * ClickHouse through `@clickhouse/client`: a server at `url`, or chdb on `chdbDir`. chdb turns
 * per-query `clickhouse_settings` into session-wide SETs (EMBEDDED_STACK.md gotcha 9), so never
 * pass them on this shared client; open a separate connection per settings profile instead.
 * chdb must stay on the main thread: it segfaults when a worker that loaded it exits.
 */
export const openClickHouse = async (cfg: ClickHouseConfig): Promise<ClickHouseStore> => {
  if (cfg.url) {
    const client = createClient({ url: cfg.url, request_timeout: 30_000 });
    return { client, target: 'server', close: () => client.close() };
  }
  await mkdir(cfg.chdbDir, { recursive: true });
  const { createChdbConnection } = await import('chdb/connection');
  // Synchronous (0.1–0.6 s) and throws at once if another process holds the directory.
  const connection = createChdbConnection({ path: cfg.chdbDir });
  const client = createClient({ connection } as Parameters<typeof createClient>[0]);
  return {
    client,
    target: 'chdb',
    close: async () => {
      await client.close();
    },
  };
};

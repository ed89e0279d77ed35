import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { openPostgres } from '../../core/stores/postgres.js';
import { runCli } from '../support/gatewayProcess.js';
import { tempDir } from '../support/stores.js';

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir('fg-e2e-devices-cli-');
});
afterAll(() => dir?.remove());

describe('fleetgate devices add', () => {
  it('prints the token once and leaves the same audit event as the API, without the token', async () => {
    const cli = runCli(['devices', 'add', 'cli-van-1', '--kind', 'phone', '--driver', 'drv-7'], {
      DATA_DIR: dir.dir,
      LOG_LEVEL: 'warn',
    });
    expect(await cli.exited).toBe(0);
    const token = cli.output().trim();
    expect(token).toMatch(/^\S{32,}$/);
    expect(cli.stderr()).toContain('device cli-van-1 (phone) registered');

    const pg = await openPostgres({ databaseUrl: undefined, pgliteDir: join(dir.dir, 'pg'), poolMax: 1 });
    try {
      const log = embeddedEventLog(pg.sql);
      const messages = await log.read('EVENTS', 100, { filterSubject: 'evt.device.>' });
      const events = messages.flatMap((m) => m.events);
      expect(events.map((e) => ({ type: e.type, subject: e.subject, source: e.source, data: e.data }))).toEqual([
        {
          type: 'device.registered',
          subject: 'evt.device.cli-van-1',
          source: 'cli',
          data: { deviceId: 'cli-van-1', kind: 'phone', driverId: 'drv-7' },
        },
      ]);
      expect(JSON.stringify(messages)).not.toContain(token);
      await log.close();
    } finally {
      await pg.close();
    }
  }, 60_000);
});

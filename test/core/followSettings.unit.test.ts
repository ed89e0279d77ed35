import { describe, expect, it } from 'vitest';
import type { IntegrationName } from '../../core/integrations/catalog.js';
import { following } from '../../core/integrations/follow.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import { silentLogger } from '../../core/logger.js';

/** Just the change notification of the settings service. */
const changes = () => {
  const listeners = new Set<(c: ReadonlySet<IntegrationName>) => void>();
  return {
    settings: {
      onChange: (l: (c: ReadonlySet<IntegrationName>) => void) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    },
    fire: (name: IntegrationName) => {
      for (const l of listeners) l(new Set([name]));
    },
  };
};

describe('a client that follows its integration settings', () => {
  it('uses the new client for the next call, and closes the old one only after its call in flight finished', async () => {
    const c = changes();
    let version = 0;
    const closed: number[] = [];
    const f = following(c.settings as unknown as IntegrationSettings, 'telegram', () => ++version, {
      logger: silentLogger(),
      close: async (v) => void closed.push(v),
    });
    let release: () => void = () => {};
    const inFlight = f.use((v) => new Promise<number>((r) => (release = () => r(v))));
    c.fire('telegram');
    expect(f.current).toBe(2);
    expect(await f.use(async (v) => v)).toBe(2);
    expect(closed).toEqual([]);
    release();
    expect(await inFlight).toBe(1);
    expect(closed).toEqual([1]);
    c.fire('email.smtp');
    expect(f.current).toBe(2);
  });

  it('keeps the previous client when the new settings cannot build one', () => {
    const c = changes();
    let fail = false;
    const f = following(
      c.settings as unknown as IntegrationSettings,
      'push.fcm',
      () => {
        if (fail) throw new Error('bad service account');
        return 'ok';
      },
      { logger: silentLogger() },
    );
    fail = true;
    c.fire('push.fcm');
    expect(f.current).toBe('ok');
  });
});

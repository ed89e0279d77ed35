import type { Logger } from '../logger.js';
import type { IntegrationName } from './catalog.js';
import type { IntegrationSettings } from './settings.js';

/**
 * The client a channel builds from its integration's settings, rebuilt when they change. A call
 * in flight keeps the client it started with; the old one is closed once its calls finished, so a
 * change never cuts a send off. A build that fails (a bad credential) keeps the previous client.
 */
export const following = <T>(
  settings: IntegrationSettings,
  name: IntegrationName,
  build: () => T,
  opts: { close?: (client: T) => Promise<void>; logger: Logger },
) => {
  let current = { client: build(), inFlight: 0, retired: false };
  const close = (slot: typeof current) => {
    opts
      .close?.(slot.client)
      .catch((e: unknown) => opts.logger.warn({ err: String(e), integration: name }, 'closing an old client failed'));
  };
  settings.onChange((changed) => {
    if (!changed.has(name)) return;
    let client: T;
    try {
      client = build();
    } catch (e) {
      opts.logger.error(
        { integration: name, err: e instanceof Error ? e.message : String(e) },
        'new settings unusable; keeping the previous client',
      );
      return;
    }
    const old = current;
    current = { client, inFlight: 0, retired: false };
    old.retired = true;
    if (old.inFlight === 0) close(old);
    opts.logger.info({ integration: name }, 'client rebuilt from integration settings');
  });
  return {
    get current() {
      return current.client;
    },
    /** Runs `call` on the current client, counting it so a retired client closes only when idle. */
    async use<R>(call: (client: T) => Promise<R>): Promise<R> {
      const slot = current;
      slot.inFlight++;
      try {
        return await call(slot.client);
      } finally {
        slot.inFlight--;
        if (slot.retired && slot.inFlight === 0) close(slot);
      }
    },
    close: () => opts.close?.(current.client) ?? Promise.resolve(),
  };
};

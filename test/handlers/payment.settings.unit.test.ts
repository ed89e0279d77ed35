import { describe, expect, it } from 'vitest';
import type { PaymentsConfig } from '../../core/config.js';
import type { IntegrationName } from '../../core/integrations/catalog.js';
import type { Effective, IntegrationSettings } from '../../core/integrations/settings.js';
import { integrationPaymentSettings } from '../../handlers/payment/settings.js';

const config: PaymentsConfig = {
  provider: 'yookassa',
  testMode: false,
  yookassa: { apiUrl: 'https://api.yookassa.ru/v3', shopId: undefined, secretKey: undefined },
  stripe: { apiUrl: 'https://api.stripe.com', secretKey: undefined },
  timeoutMs: 10_000,
  receiptChannels: [],
  waitMaxSeconds: 10,
  publicUrl: undefined,
};

/** Settings as the service would hold them; `set` changes them the way a PATCH does. */
const settingsOf = (initial: Partial<Record<IntegrationName, { enabled?: boolean; fields: Record<string, string> }>>) => {
  const state = { ...initial };
  const settings = {
    get: (name: IntegrationName) => {
      const s = state[name];
      return {
        name,
        enabled: { value: s?.enabled ?? true, source: 'default' },
        testMode: { value: false, source: 'default' },
        fields: Object.fromEntries(Object.entries(s?.fields ?? {}).map(([k, v]) => [k, { value: v, source: 'db' }])),
        updatedAt: null,
        updatedBy: null,
      } as Effective;
    },
  } as unknown as IntegrationSettings;
  return {
    settings,
    set: (name: IntegrationName, v: { enabled?: boolean; fields: Record<string, string> }) => (state[name] = v),
  };
};

describe('payment settings from the integration-settings service', () => {
  it('reads the current credentials on every call, so a change applies to the next provider call', async () => {
    const s = settingsOf({ 'payment.stripe': { fields: { secretKey: 'sk_test_one' } } });
    const source = integrationPaymentSettings(s.settings, config);
    expect(await source.stripe()).toEqual({ apiUrl: 'https://api.stripe.com', secretKey: 'sk_test_one' });
    s.set('payment.stripe', { fields: { secretKey: 'sk_test_two', apiUrl: 'http://127.0.0.1:9/' } });
    expect(await source.stripe()).toEqual({ apiUrl: 'http://127.0.0.1:9', secretKey: 'sk_test_two' });
  });

  it('treats a disabled or incomplete integration as not configured', async () => {
    const s = settingsOf({ 'payment.yookassa': { fields: { shopId: '12345', secretKey: 'test_abc' } } });
    const source = integrationPaymentSettings(s.settings, config);
    expect(await source.yookassa()).toEqual({ apiUrl: 'https://api.yookassa.ru/v3', shopId: '12345', secretKey: 'test_abc' });
    s.set('payment.yookassa', { enabled: false, fields: { shopId: '12345', secretKey: 'test_abc' } });
    expect(await source.yookassa()).toBeUndefined();
    s.set('payment.yookassa', { fields: { shopId: '12345' } });
    expect(await source.yookassa()).toBeUndefined();
    expect(await source.stripe()).toBeUndefined();
  });
});

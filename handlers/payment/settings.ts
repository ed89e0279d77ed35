import type { PaymentsConfig } from '../../core/config.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import { withoutTrailingSlashes } from '../../core/text/trailingSlashes.js';

export interface YooKassaSettings {
  apiUrl: string;
  shopId: string;
  secretKey: string;
}
export interface StripeSettings {
  apiUrl: string;
  secretKey: string;
}

/**
 * The effective provider settings, asked for on every provider call, so settings changed at
 * run time (the integration-settings service, issue 19) apply to the next call. Today they come
 * from the environment; the merger swaps `configPaymentSettings` for the service in one line.
 * `undefined`: the provider is not configured.
 */
export interface PaymentSettingsSource {
  /** `payment.yookassa` */
  yookassa(): Promise<YooKassaSettings | undefined>;
  /** `payment.stripe` */
  stripe(): Promise<StripeSettings | undefined>;
}

export const configPaymentSettings = (p: PaymentsConfig): PaymentSettingsSource => ({
  yookassa: async () =>
    p.yookassa.shopId && p.yookassa.secretKey
      ? { apiUrl: p.yookassa.apiUrl, shopId: p.yookassa.shopId, secretKey: p.yookassa.secretKey }
      : undefined,
  stripe: async () => (p.stripe.secretKey ? { apiUrl: p.stripe.apiUrl, secretKey: p.stripe.secretKey } : undefined),
});

const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const base = (url: unknown, fallback: string) => withoutTrailingSlashes(text(url) ?? fallback);

/**
 * `payment.yookassa` and `payment.stripe` as the integration-settings service holds them now
 * (database over environment over default, changed at run time without a restart). A disabled
 * integration reads as not configured: its calls fail `not_configured` and nothing reaches the
 * provider. `fallback` supplies the API roots when the service has none.
 */
export const integrationPaymentSettings = (settings: IntegrationSettings, p: PaymentsConfig): PaymentSettingsSource => ({
  yookassa: async () => {
    const e = settings.get('payment.yookassa');
    const shopId = text(e.fields.shopId?.value);
    const secretKey = text(e.fields.secretKey?.value);
    if (!e.enabled.value || !shopId || !secretKey) return undefined;
    return { apiUrl: base(e.fields.apiUrl?.value, p.yookassa.apiUrl), shopId, secretKey };
  },
  stripe: async () => {
    const e = settings.get('payment.stripe');
    const secretKey = text(e.fields.secretKey?.value);
    if (!e.enabled.value || !secretKey) return undefined;
    return { apiUrl: base(e.fields.apiUrl?.value, p.stripe.apiUrl), secretKey };
  },
});

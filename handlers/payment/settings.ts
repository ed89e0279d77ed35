import type { PaymentsConfig } from '../../core/config.js';

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

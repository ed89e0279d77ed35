import type { PaymentsConfig } from '../../core/config.js';
import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { paymentHandler } from './handler.js';
import type { PaymentProvider, PaymentProviderName } from './port.js';
import { paymentReceiptHandler } from './receipts.js';
import { configPaymentSettings, integrationPaymentSettings, type PaymentSettingsSource } from './settings.js';
import { stripeProvider } from './stripe.js';
import { testModePaymentProvider } from './testMode.js';
import { paymentWebhookHandler } from './webhooks.js';
import { yookassaProvider } from './yookassa.js';

/**
 * Both providers, live or simulated (PAYMENT_TEST_MODE). Live ones read their credentials from
 * `settings` on every call; `undefined` there fails the call with `not_configured`.
 */
export const paymentProviders = (
  config: PaymentsConfig,
  settings: PaymentSettingsSource = configPaymentSettings(config),
): ((name: PaymentProviderName) => PaymentProvider) => {
  const providers: Record<PaymentProviderName, PaymentProvider> = config.testMode
    ? {
        yookassa: testModePaymentProvider('yookassa', config.publicUrl ?? ''),
        stripe: testModePaymentProvider('stripe', config.publicUrl ?? ''),
      }
    : {
        yookassa: yookassaProvider({ settings: settings.yookassa, timeoutMs: config.timeoutMs }),
        stripe: stripeProvider({ settings: settings.stripe, timeoutMs: config.timeoutMs }),
      };
  return (name) => providers[name];
};

export interface PaymentHandlersOptions {
  /** Replaces the providers built from config (tests). */
  provider?: (name: PaymentProviderName) => PaymentProvider;
}

/** The payment channel's handlers: commands (`payment`) and provider webhooks (`payment-webhooks`). */
export const buildPaymentHandlers = (deps: HandlerDeps, opts: PaymentHandlersOptions = {}): AnyHandler[] => {
  const config = deps.config.payments;
  const logger = deps.logger.child({ channel: 'payment' });
  if (config.testMode) logger.warn('payments run in test mode (PAYMENT_TEST_MODE): links open the local confirmation page');
  const settings = deps.integrations ? integrationPaymentSettings(deps.integrations.settings, config) : undefined;
  const provider = opts.provider ?? paymentProviders(config, settings);
  return [
    paymentHandler({ provider, defaultProvider: config.provider, log: deps.log, logger: deps.logger }),
    paymentWebhookHandler({ provider, sql: deps.sql, log: deps.log, logger: deps.logger }),
    // Only when asked for: a consumer that would read every payment event to send nothing.
    ...(config.receiptChannels.length > 0
      ? [paymentReceiptHandler({ log: deps.log, logger: deps.logger, channels: config.receiptChannels })]
      : []),
  ];
};

/** The live providers with credentials (none in test mode): what reconciliation asks. */
export const configuredPaymentProviders = (config: PaymentsConfig): PaymentProviderName[] =>
  config.testMode
    ? []
    : [
        ...(config.yookassa.shopId && config.yookassa.secretKey ? (['yookassa'] as const) : []),
        ...(config.stripe.secretKey ? (['stripe'] as const) : []),
      ];

import { PaymentError, type PaymentProvider, type PaymentProviderName, type ProviderPayment } from './port.js';

/**
 * PAYMENT_TEST_MODE: nothing leaves the gateway. A payment's link is the gateway's own
 * confirmation page (`/pay/test/{id}`), whose complete and cancel buttons append what the
 * provider's webhook would; captures, cancels and refunds succeed at once.
 */
export const testModePaymentProvider = (name: PaymentProviderName, pageBase: string): PaymentProvider => {
  const now = () => new Date().toISOString();
  const unknown = () =>
    PaymentError.of({
      code: 'not_supported',
      message: 'test mode keeps no payments to look up',
      retryable: false,
      provider: name,
    });
  return {
    name,
    testMode: true,
    async create(input) {
      return {
        provider: name,
        providerPaymentId: `test_${input.paymentId}`,
        status: 'pending',
        amountMinor: input.amountMinor,
        currency: input.currency,
        confirmationUrl: `${pageBase}/pay/test/${input.paymentId}`,
        paymentId: input.paymentId,
        orderId: input.orderId,
        createdAt: now(),
      };
    },
    async get() {
      throw unknown();
    },
    async capture(ref): Promise<ProviderPayment> {
      if (ref.amountMinor === undefined) throw unknown();
      return {
        provider: name,
        providerPaymentId: ref.providerPaymentId,
        status: 'succeeded',
        amountMinor: ref.amountMinor,
        capturedMinor: ref.amountMinor,
        currency: ref.currency,
        createdAt: now(),
        paidAt: now(),
      };
    },
    async cancel(ref) {
      return {
        provider: name,
        providerPaymentId: ref.providerPaymentId,
        status: 'canceled',
        amountMinor: 0,
        currency: ref.currency,
        cancellationReason: 'canceled_by_merchant',
        createdAt: now(),
      };
    },
    async refund(ref) {
      return {
        provider: name,
        providerRefundId: `test_re_${ref.refundId}`,
        providerPaymentRef: ref.providerPaymentId,
        status: 'succeeded',
        amountMinor: ref.amountMinor,
        currency: ref.currency,
        refundId: ref.refundId,
        paymentId: ref.paymentId,
        createdAt: now(),
      };
    },
    async *listPayments() {},
    async *listRefunds() {},
  };
};

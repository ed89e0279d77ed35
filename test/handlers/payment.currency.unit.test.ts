import { describe, expect, it } from 'vitest';
import { currencyDigits } from '../../handlers/payment/port.js';

describe('currencyDigits', () => {
  it('knows minor units per currency, the same on a repeated (cached) call', () => {
    expect(currencyDigits('RUB')).toBe(2);
    expect(currencyDigits('JPY')).toBe(0);
    expect(currencyDigits('KWD')).toBe(3);
    expect(currencyDigits('JPY')).toBe(0);
    expect(currencyDigits('RUB')).toBe(2);
  });

  it('falls back to 2 for a code Intl refuses', () => {
    expect(currencyDigits('not-a-code')).toBe(2);
    expect(currencyDigits('not-a-code')).toBe(2);
  });
});

import { describe, expect, it } from 'vitest';
import { createLogger, SECRET_ENV_NAMES } from '../../core/logger.js';

const captured = () => {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
};

describe('logger redaction (issue 23.8)', () => {
  it('redacts every secret variable when an env or config object is logged', () => {
    expect(SECRET_ENV_NAMES).toEqual(
      expect.arrayContaining(['ADMIN_API_KEY', 'TWILIO_AUTH_TOKEN', 'MAIL_PASSWORD', 'STRIPE_WEBHOOK_SECRET', 'DATABASE_URL']),
    );
    const out = captured();
    const logger = createLogger('info', 'test', out.stream);
    const env = {
      ADMIN_API_KEY: 'k'.repeat(40),
      TWILIO_AUTH_TOKEN: 'tok',
      STRIPE_SECRET_KEY: 'sk',
      MAIL_PASSWORD: 'pw',
      HTTP_PORT: 8080,
    };
    logger.info({ env }, 'env');
    logger.info({ config: { env } }, 'config');
    const text = out.lines.join('');
    for (const secret of ['k'.repeat(40), '"tok"', '"sk"', '"pw"']) expect(text).not.toContain(secret);
    expect(text).toContain('"HTTP_PORT":8080');
    expect(text.match(/\[redacted\]/g)).toHaveLength(8);
  });
});

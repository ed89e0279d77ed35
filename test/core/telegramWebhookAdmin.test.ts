import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telegramWebhookCommand } from '../../core/telegram/webhookAdmin.js';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram.js';
import { BOT_TOKEN } from '../handlers/telegramBotHarness.js';

let tg: FakeTelegram;
beforeAll(async () => {
  tg = await startFakeTelegram({ token: BOT_TOKEN });
});
afterAll(() => tg?.close());

const run = async (sub: string, over: Partial<Parameters<typeof telegramWebhookCommand>[0]> = {}) => {
  const lines: string[] = [];
  await telegramWebhookCommand(
    {
      token: BOT_TOKEN,
      apiRoot: tg.url,
      publicUrl: 'https://gw.example.com/',
      secret: 's3cret-token',
      out: (l) => lines.push(l),
      ...over,
    },
    sub,
  );
  return lines.join('\n');
};

describe('fleetgate telegram set-webhook|delete-webhook|webhook-info', () => {
  it('registers PUBLIC_URL/webhooks/telegram with the secret and the update types, shows it, removes it', async () => {
    expect(await run('set-webhook')).toContain('webhook set: https://gw.example.com/webhooks/telegram');
    expect(tg.webhook).toMatchObject({ url: 'https://gw.example.com/webhooks/telegram', secret_token: 's3cret-token' });
    expect(tg.webhook?.allowed_updates).toEqual(['message', 'callback_query', 'my_chat_member']);
    expect(await run('webhook-info')).toContain('url: https://gw.example.com/webhooks/telegram');
    expect(await run('delete-webhook')).toContain('webhook deleted');
    expect(tg.webhook).toBeUndefined();
    expect(await run('webhook-info')).toContain('(none: long polling)');
  });

  it('says what is missing, and a wrong token in one line without the token', async () => {
    await expect(run('set-webhook', { secret: undefined })).rejects.toThrow(/TELEGRAM_WEBHOOK_SECRET/);
    await expect(run('set-webhook', { publicUrl: undefined })).rejects.toThrow(/PUBLIC_URL/);
    await expect(run('webhook-info', { token: undefined })).rejects.toThrow(/TELEGRAM_BOT_TOKEN/);
    const err = await run('webhook-info', { token: '1:wrong' }).catch((e: Error) => e.message);
    expect(err).toContain('401');
    expect(err).not.toContain('1:wrong');
    await expect(run('bogus')).rejects.toThrow(/usage/);
  });
});

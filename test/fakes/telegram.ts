import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted Bot API failure, as Telegram answers it. */
export interface TelegramFailure {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  status: number;
  at: number;
}

export interface FakeTelegram {
  /** The `apiRoot` for grammy (no trailing slash). */
  url: string;
  /** Messages the bot sent, per accepted `sendMessage`. */
  messages: { chatId: number; messageId: number; text: string; at: number }[];
  /** Texts the bot put in place of an earlier message (`editMessageText`: inline buttons). */
  edits: { chatId: number; messageId: number; text: string; at: number }[];
  /** Updates waiting for `getUpdates` (long polling); `pushUpdate` adds one with the next update_id. */
  pushUpdate(update: Record<string, unknown>): number;
  /** What `setWebhook` last registered (`deleteWebhook` clears it). */
  webhook: { url: string; secret_token?: string; allowed_updates?: unknown } | undefined;
  /** Every Bot API call, accepted or not. */
  calls: RecordedCall[];
  /** Chats that exist; `sendMessage` to any other answers 400 chat not found. */
  chats: Set<number>;
  /** The user blocked the bot: 403 from now on. */
  block(chatId: number): void;
  /** The next `times` calls (to this chat, or any) answer with `failure`. */
  failNext(failure: TelegramFailure, opts?: { chatId?: number; times?: number }): void;
  close(): Promise<void>;
}

const BOT = { id: 7000000001, is_bot: true, first_name: 'Fleetgate', username: 'fleetgate_test_bot' };

const reply = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** Telegram reads parameters from the query, a form or JSON alike. */
const readParams = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const params: Record<string, unknown> = Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams);
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json') && body) Object.assign(params, JSON.parse(body));
  else if (type.startsWith('application/x-www-form-urlencoded'))
    Object.assign(params, Object.fromEntries(new URLSearchParams(body)));
  return params;
};

/**
 * The Telegram Bot API on 127.0.0.1: `/bot<token>/<method>` with the bot's token checked,
 * `getMe` and `sendMessage` with their required fields, and Telegram's envelopes
 * (`{ ok, result }`, `{ ok: false, error_code, description, parameters }`).
 */
export const startFakeTelegram = async (opts: { token: string }): Promise<FakeTelegram> => {
  const messages: FakeTelegram['messages'] = [];
  const calls: RecordedCall[] = [];
  const chats = new Set<number>();
  const blocked = new Set<number>();
  const scripted: { failure: TelegramFailure; chatId?: number; times: number }[] = [];
  const nextId = new Map<number, number>();
  const edits: FakeTelegram['edits'] = [];
  const pending: Record<string, unknown>[] = [];
  let nextUpdateId = 1;
  let webhook: FakeTelegram['webhook'];
  let closed = false;

  const server = createServer(async (req, res) => {
    const at = Date.now();
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    let params: Record<string, unknown> = {};
    try {
      params = await readParams(req);
    } catch {
      return reply(res, 400, { ok: false, error_code: 400, description: "Bad Request: can't parse JSON" });
    }
    const answer = (status: number, body: Record<string, unknown>) => {
      calls.push({ method: m?.[2] ?? '', params, status, at });
      reply(res, status, body);
    };
    const fail = (f: TelegramFailure) => answer(f.error_code, { ok: false, ...f });
    if (!m) return fail({ error_code: 404, description: 'Not Found' });
    if (m[1] !== opts.token) return fail({ error_code: 401, description: 'Unauthorized' });
    const method = m[2] as string;
    if (method === 'getMe') return answer(200, { ok: true, result: { ...BOT, can_join_groups: true } });
    if (method === 'answerCallbackQuery' || method === 'setMyCommands') return answer(200, { ok: true, result: true });
    if (method === 'setWebhook') {
      if (typeof params.url !== 'string') return fail({ error_code: 400, description: 'Bad Request: bad webhook: URL is empty' });
      webhook = {
        url: params.url,
        ...(typeof params.secret_token === 'string' ? { secret_token: params.secret_token } : {}),
        ...(params.allowed_updates === undefined ? {} : { allowed_updates: params.allowed_updates }),
      };
      return answer(200, { ok: true, result: true, description: 'Webhook was set' });
    }
    if (method === 'deleteWebhook') {
      webhook = undefined;
      return answer(200, { ok: true, result: true });
    }
    if (method === 'getWebhookInfo') {
      return answer(200, {
        ok: true,
        result: { url: webhook?.url ?? '', has_custom_certificate: false, pending_update_count: pending.length },
      });
    }
    if (method === 'getUpdates') {
      if (webhook) {
        return fail({ error_code: 409, description: "Conflict: can't use getUpdates method while webhook is active" });
      }
      const offset = Number(params.offset ?? 0);
      while (pending.length > 0 && (pending[0]?.update_id as number) < offset) pending.shift();
      const until = Date.now() + Math.min(Number(params.timeout ?? 0), 2) * 1_000;
      while (pending.length === 0 && Date.now() < until && !closed) await new Promise((r) => setTimeout(r, 20));
      return answer(200, { ok: true, result: pending.slice(0, 100) });
    }
    if (method === 'editMessageText') {
      const chatId = Number(params.chat_id);
      const messageId = Number(params.message_id);
      if (typeof params.text !== 'string' || !messageId)
        return fail({ error_code: 400, description: 'Bad Request: message to edit not found' });
      edits.push({ chatId, messageId, text: params.text, at });
      return answer(200, {
        ok: true,
        result: {
          message_id: messageId,
          from: BOT,
          chat: { id: chatId, type: 'private' },
          date: Math.floor(at / 1000),
          text: params.text,
        },
      });
    }
    if (method !== 'sendMessage') return fail({ error_code: 404, description: 'Not Found: method not found' });

    const chatId = Number(params.chat_id);
    if (params.chat_id === undefined || params.chat_id === '')
      return fail({ error_code: 400, description: 'Bad Request: chat_id is empty' });
    if (typeof params.text !== 'string' || params.text.trim() === '') {
      return fail({ error_code: 400, description: 'Bad Request: message text is empty' });
    }
    if (params.text.length > 4096) return fail({ error_code: 400, description: 'Bad Request: message is too long' });
    const i = scripted.findIndex((s) => s.chatId === undefined || s.chatId === chatId);
    if (i >= 0) {
      const s = scripted[i] as (typeof scripted)[number];
      if (--s.times <= 0) scripted.splice(i, 1);
      return fail(s.failure);
    }
    if (!chats.has(chatId)) return fail({ error_code: 400, description: 'Bad Request: chat not found' });
    if (blocked.has(chatId)) return fail({ error_code: 403, description: 'Forbidden: bot was blocked by the user' });
    const messageId = (nextId.get(chatId) ?? 0) + 1;
    nextId.set(chatId, messageId);
    messages.push({ chatId, messageId, text: params.text, at });
    answer(200, {
      ok: true,
      result: {
        message_id: messageId,
        from: BOT,
        chat: { id: chatId, type: chatId < 0 ? 'group' : 'private', first_name: 'Driver' },
        date: Math.floor(at / 1000),
        text: params.text,
      },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    edits,
    calls,
    chats,
    pushUpdate(update) {
      const id = nextUpdateId++;
      pending.push({ update_id: id, ...update });
      return id;
    },
    get webhook() {
      return webhook;
    },
    block: (chatId) => void blocked.add(chatId),
    failNext: (failure, o = {}) =>
      void scripted.push({ failure, times: o.times ?? 1, ...(o.chatId === undefined ? {} : { chatId: o.chatId }) }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        closed = true;
        // grammy keeps connections alive per apiRoot.
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

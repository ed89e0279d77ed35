import type { TSchema } from '@sinclair/typebox';
import {
  applicationAssignedTexts,
  type EmailTemplateCall,
  passwordResetTexts,
  paymentReceivedTexts,
  type ShortTexts,
} from '../../core/notifications/texts.js';
import { listNotificationQueue, notificationQueueDepth } from '../../core/readModels/notificationQueue.js';
import type { Priority } from '../../schemas/events/envelope.js';
import {
  ApplicationAssignedRequest,
  NOTIFICATION_CHANNELS,
  NotificationAccepted,
  type NotificationChannel,
  type NotificationLocale,
  type NotificationRecipient,
  PasswordResetRequest,
  PaymentReceivedRequest,
  QueueQuery,
  QueueView,
} from '../../schemas/http/notifications.js';
import type { FieldError } from '../../schemas/http/problem.js';
import { hasScope } from '../auth.js';
import type { CommandCaller } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext } from '../route.js';
import { invalidFields } from '../validation.js';
import { requestEmail } from './email.js';
import { requestPush } from './push.js';
import { requestSms } from './sms.js';
import { requestTelegramMessage } from './telegram.js';

interface FanOut {
  kind: string;
  to: NotificationRecipient;
  channels?: NotificationChannel[] | undefined;
  locale: NotificationLocale;
  priority: Priority;
  texts: ShortTexts;
  email: EmailTemplateCall;
  /** Identifies the CRM record in push data, so the app can open it. */
  ref: Record<string, string>;
}

/**
 * How `to` is reached on a channel: `ok` when asked for explicitly, `auto` when channels are
 * chosen for the caller (Telegram by user id only when asked: the chat must be linked), and the
 * field and wording of the error when it is not.
 */
const address = (to: NotificationRecipient, c: NotificationChannel) => {
  const rules: Record<NotificationChannel, { ok: boolean; auto?: boolean; field: string; detail: string }> = {
    sms: { ok: !!to.phone, field: 'to.phone', detail: 'an SMS needs to.phone' },
    email: { ok: !!to.email, field: 'to.email', detail: 'an e-mail needs to.email' },
    push: { ok: !!to.userId, field: 'to.userId', detail: 'a push needs to.userId (their registered devices)' },
    telegram: {
      ok: !!to.userId || to.telegramChatId !== undefined,
      auto: to.telegramChatId !== undefined,
      field: 'to.telegramChatId',
      detail: 'Telegram needs to.telegramChatId or to.userId',
    },
  };
  const rule = rules[c];
  return { ...rule, auto: rule.auto ?? rule.ok };
};

const reachable = (to: NotificationRecipient): NotificationChannel[] => NOTIFICATION_CHANNELS.filter((c) => address(to, c).auto);

const missingAddress = (to: NotificationRecipient, c: NotificationChannel): FieldError | undefined => {
  const { ok, field, detail } = address(to, c);
  return ok ? undefined : { pointer: `/${field.replace('.', '/')}`, field, detail };
};

/**
 * One CRM notification as one command per chosen channel. Each command has its own id (derived
 * from the request's Idempotency-Key per channel when there is one), its own retries and its own
 * history (`GET /api/v1/sms/{id}`, …); this answers with all their ids.
 */
const fanOut = async (deps: ApiDeps, ctx: RequestContext<unknown>, n: FanOut) => {
  const principal = ctx.principal as NonNullable<RequestContext['principal']>;
  const channels = n.channels ?? reachable(n.to);
  if (channels.length === 0) {
    throw invalidFields([{ pointer: '/to', field: 'to', detail: 'give at least one of phone, email, userId, telegramChatId' }]);
  }
  const missing = channels.map((c) => missingAddress(n.to, c)).filter((e): e is FieldError => e !== undefined);
  // The e-mail templates greet the person by name.
  if (channels.includes('email') && !n.to.name)
    missing.push({ pointer: '/to/name', field: 'to.name', detail: 'an e-mail needs to.name' });
  if (missing.length > 0) throw invalidFields(missing);
  const forbidden = channels.filter((c) => !hasScope(principal, c));
  if (forbidden.length > 0) {
    throw new HttpProblem('GW_ERR_FORBIDDEN', `this notification needs the ${forbidden.map((c) => `"${c}"`).join(', ')} scope`);
  }
  const key = ctx.headers['idempotency-key'];
  const via = `v1:notifications/${n.kind}`;
  const issue = async (channel: NotificationChannel) => {
    // Each channel's command gets its own id: one Idempotency-Key must not map two commands to one.
    const caller: CommandCaller = {
      principal,
      headers: key === undefined ? {} : { 'idempotency-key': `${key}/${channel}` },
    };
    const { priority, texts, to } = n;
    const accepted =
      channel === 'sms'
        ? await requestSms(deps, caller, { to: to.phone as string, text: texts.text, priority }, via)
        : channel === 'email'
          ? await requestEmail(
              deps,
              caller,
              { to: to.email as string, template: n.email.template, data: n.email.data, priority },
              via,
            )
          : channel === 'push'
            ? await requestPush(
                deps,
                caller,
                {
                  userId: to.userId as string,
                  title: texts.title,
                  body: texts.body,
                  data: { kind: n.kind, ...n.ref },
                  priority,
                },
                via,
              )
            : await requestTelegramMessage(
                deps,
                caller,
                to.telegramChatId !== undefined
                  ? { chatId: to.telegramChatId, text: texts.text, priority }
                  : { userId: to.userId as string, text: texts.text, priority },
                via,
              );
    return { channel, id: accepted.id };
  };
  // E-mail first, alone: its template variables are checked before the append, and a refusal must
  // come before any other channel's command is in the log.
  const first = channels.includes('email') ? [await issue('email')] : [];
  const rest = await Promise.all(channels.filter((c) => c !== 'email').map(issue));
  const commands = channels.map((c) => [...first, ...rest].find((x) => x.channel === c) as (typeof rest)[number]);
  return { status: 'queued' as const, commands };
};

const ACCEPTED_FANOUT = {
  202: { description: 'queued: one command per channel, each with its own id and history', schema: NotificationAccepted },
};

/** One CRM notification kind: its body, defaults and how its texts are made. */
interface Kind<S extends TSchema> {
  path: string;
  operationId: string;
  summary: string;
  description: string;
  body: S;
  kind: string;
  priority: Priority;
  emailTemplate: string;
  /** The template's variables (schemas/emailTemplates.ts) from the request. */
  emailData(b: S['static'], name: string): Record<string, unknown>;
  texts(b: S['static'], locale: NotificationLocale, timeZone: string): ShortTexts;
  ref(b: S['static']): Record<string, string>;
}

const helper = <S extends TSchema>(deps: ApiDeps, k: Kind<S>) =>
  defineRoute({
    method: 'POST',
    path: k.path,
    operationId: k.operationId,
    summary: k.summary,
    description: k.description,
    tags: ['notifications'],
    auth: { anyOf: NOTIFICATION_CHANNELS },
    body: k.body,
    idempotent: true,
    responses: ACCEPTED_FANOUT,
    handle: async (ctx) => {
      const b = ctx.body as S['static'] & { to: NotificationRecipient; data: object } & Partial<FanOutOptions>;
      const locale = b.locale ?? 'ru';
      const body = await fanOut(deps, ctx, {
        kind: k.kind,
        to: b.to,
        channels: b.channels,
        locale,
        priority: b.priority ?? k.priority,
        texts: k.texts(b, locale, deps.config.notifications.timeZone),
        email: {
          template: k.emailTemplate,
          data: { ...k.emailData(b, b.to.name ?? ''), locale, timeZone: deps.config.notifications.timeZone },
        },
        ref: k.ref(b),
      });
      return { status: 202, body };
    },
  });

interface FanOutOptions {
  channels: NotificationChannel[];
  locale: NotificationLocale;
  priority: Priority;
}

export const notificationRoutes = (deps: ApiDeps) => [
  helper(deps, {
    path: '/api/v1/notifications/application-assigned',
    operationId: 'notifyApplicationAssigned',
    summary: 'Tell a driver an application was assigned to them',
    description:
      "One call for the CRM's most common notification: SMS, e-mail (template `application_assigned`), push and Telegram, to the channels given (default: each one `to` has an address for).",
    body: ApplicationAssignedRequest,
    kind: 'application_assigned',
    priority: 'high',
    emailTemplate: 'application_assigned',
    emailData: (b, name) => ({
      driver: { name },
      application: {
        number: b.data.applicationId,
        ...(b.data.pickupAddress ? { pickup: b.data.pickupAddress } : {}),
        ...(b.data.pickupTime ? { pickupAt: b.data.pickupTime } : {}),
        ...(b.data.customerName ? { customer: b.data.customerName } : {}),
      },
      ...(b.data.url ? { url: b.data.url } : {}),
    }),
    texts: (b, locale, tz) => applicationAssignedTexts(b.data, locale, tz, b.to.name),
    ref: (b) => ({ applicationId: b.data.applicationId }),
  }),
  helper(deps, {
    path: '/api/v1/notifications/payment-received',
    operationId: 'notifyPaymentReceived',
    summary: 'Tell a customer their payment arrived',
    description:
      'SMS, e-mail (template `payment_receipt`), push and Telegram, to the channels given (default: each one `to` has an address for).',
    body: PaymentReceivedRequest,
    kind: 'payment_received',
    priority: 'normal',
    emailTemplate: 'payment_receipt',
    // The receipt needs a time: a CRM that did not say when is telling us now.
    emailData: (b, name) => ({ name, ...b.data, paidAt: b.data.paidAt ?? new Date().toISOString() }),
    texts: (b, locale) => paymentReceivedTexts(b.data, locale),
    ref: (b) => ({ orderId: b.data.orderId }),
  }),
  helper(deps, {
    path: '/api/v1/notifications/password-reset',
    operationId: 'notifyPasswordReset',
    summary: 'Send a password reset link',
    description: 'E-mail (template `password_reset`) and, when asked, SMS, push or Telegram; `high` priority by default.',
    body: PasswordResetRequest,
    kind: 'password_reset',
    priority: 'high',
    emailTemplate: 'password_reset',
    emailData: (b, name) => ({ name, ...b.data }),
    texts: (b, locale) => passwordResetTexts(b.data, locale),
    ref: () => ({}),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/notifications/queue',
    operationId: 'getNotificationQueue',
    summary: 'The notification queue: depth and the newest commands',
    description:
      'Unfinished commands (queued or retrying) counted per channel, priority and status, and the newest commands matching `channel` and `status` with their attempts, next attempt and last error (`notification_queue`).',
    tags: ['notifications'],
    auth: { anyOf: NOTIFICATION_CHANNELS },
    query: QueueQuery,
    responses: { 200: { description: 'the queue', schema: QueueView } },
    handle: async (ctx) => {
      const { sql } = deps;
      const principal = ctx.principal as NonNullable<RequestContext['principal']>;
      // A key sees the channels it may use.
      const visible = NOTIFICATION_CHANNELS.filter((c) => hasScope(principal, c));
      const channels = ctx.query.channel ? visible.filter((c) => c === ctx.query.channel) : visible;
      const limit = Math.min(1_000, Number(ctx.query.limit ?? 50));
      if (channels.length === 0) return { status: 200, body: { depth: [], items: [] } };
      const depth = await notificationQueueDepth(sql, channels);
      const items = await listNotificationQueue(sql, { channels, status: ctx.query.status, limit });
      return {
        status: 200,
        body: {
          depth: depth.map((r) => ({
            channel: r.channel,
            priority: r.priority,
            status: r.status,
            count: Number(r.count),
            oldestCreatedAt: r.oldest.toISOString(),
          })),
          items: items.map((r) => ({
            id: r.id,
            channel: r.channel,
            priority: r.priority,
            status: r.status,
            attempts: r.attempts,
            nextAttemptAt: r.next_attempt_at?.toISOString() ?? null,
            lastError: r.last_error,
            createdAt: r.created_at.toISOString(),
            updatedAt: r.updated_at.toISOString(),
          })),
        },
      };
    },
  }),
];

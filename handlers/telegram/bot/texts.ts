/** The bot speaks Russian to `language_code` ru (and uk, be, kk: Russian is closer than English), English otherwise. */
export type Lang = 'ru' | 'en';
export const langOf = (code: string | null | undefined): Lang => (code && /^(ru|uk|be|kk)\b/i.test(code) ? 'ru' : 'en');

const en = {
  help: [
    'Commands:',
    '/status — gateway, queues, vehicles',
    '/today — orders and revenue today',
    '/drivers — drivers online',
    '/earnings — earnings (today, week, month)',
    '/alerts — alerts to subscribe to',
    '/stop — unlink this chat',
    '/help — this list',
  ].join('\n'),
  unlinked:
    'This chat is not linked to a CRM account. In the CRM, open your profile → Telegram, get a link code and send it here as /start CODE (or open the link).',
  linked: (role: string) => `Linked. Role: ${role}. Send /help for the commands.`,
  codeWrong: 'This code is not valid. Check it, or get a new one in the CRM.',
  codeUsed: 'This code was already used. Get a new one in the CRM.',
  codeExpired: 'This code has expired (codes are valid 15 minutes). Get a new one in the CRM.',
  tooManyAttempts: 'Too many wrong codes. Try again in 15 minutes.',
  stopped: 'Unlinked. This chat gets no more messages. Send /start CODE to link again.',
  offline: 'The bot was offline when you sent this. Please send the command again.',
  unknown: 'Unknown command. Send /help for the list.',
  notAllowed: 'Your role cannot see this.',
  statusTitle: 'Status',
  gatewayOk: 'Gateway: up',
  queue: 'Queue',
  queueEmpty: 'Queue: empty',
  vehicles: (on: number, off: number) => `Vehicles: ${on} online, ${off} offline`,
  todayTitle: (date: string) => `Today, ${date}`,
  apps: (c: number, d: number, x: number) => `Orders: ${c} created, ${d} completed, ${x} cancelled`,
  revenue: 'Revenue',
  notifications: (sent: number, failed: number) => `Notifications: ${sent} sent, ${failed} failed`,
  none: '—',
  driversTitle: (page: number, pages: number) => `Drivers (page ${page}/${pages})`,
  noDrivers: 'No drivers.',
  online: 'online',
  offlineShort: 'offline',
  lastSeen: 'last seen',
  never: 'never',
  onOrder: 'on an order',
  prev: '« Back',
  next: 'Next »',
  earningsTitle: (period: string) => `Earnings, ${period}`,
  alertsTitle: 'Alerts (tap to turn on or off):',
  alertKinds: {
    payment_failed: 'Payment failed',
    payment_refunded: 'Payment refunded',
    notification_failed: 'Notification failed',
    notification_dead_lettered: 'Notification dead-lettered',
    erp_sync_failed: 'ERP sync failed',
    device_offline: 'Device offline / back',
    speeding: 'Speeding',
  },
  latestAlerts: 'Latest alerts:',
  noAlerts: 'No alerts yet.',
  alertCount: (n: number) => `${n} alerts`,
  andMore: (n: number) => `…and ${n} more`,
  gatewayDegraded: (what: string) => `Gateway: degraded (${what})`,
  erpSync: 'Last ERP sync',
  distance: (km: string) => `Distance driven: ${km} km`,
  distanceUnknown: 'Distance driven: not available (no GPS history here)',
  periods: { today: 'today', week: 'this week', month: 'this month' },
  commands: {
    help: 'Commands',
    status: 'Gateway, queues, vehicles',
    today: 'Orders and revenue today',
    drivers: 'Drivers online',
    earnings: 'Earnings',
    alerts: 'Alerts',
    stop: 'Unlink this chat',
  },
};
type Texts = typeof en;

const ru: Texts = {
  help: [
    'Команды:',
    '/status — шлюз, очереди, машины',
    '/today — заказы и выручка за сегодня',
    '/drivers — водители на линии',
    '/earnings — заработок (день, неделя, месяц)',
    '/alerts — подписка на оповещения',
    '/stop — отвязать этот чат',
    '/help — этот список',
  ].join('\n'),
  unlinked:
    'Этот чат не привязан к учётной записи CRM. В CRM откройте профиль → Telegram, получите код и отправьте его сюда: /start КОД (или откройте ссылку).',
  linked: (role: string) => `Чат привязан. Роль: ${role}. Команды — /help.`,
  codeWrong: 'Код неверный. Проверьте его или получите новый в CRM.',
  codeUsed: 'Этот код уже использован. Получите новый в CRM.',
  codeExpired: 'Срок действия кода истёк (код действует 15 минут). Получите новый в CRM.',
  tooManyAttempts: 'Слишком много неверных кодов. Попробуйте через 15 минут.',
  stopped: 'Чат отвязан, сообщений больше не будет. Чтобы привязать снова: /start КОД.',
  offline: 'Бот был недоступен, когда вы отправили это сообщение. Отправьте команду ещё раз.',
  unknown: 'Неизвестная команда. Список — /help.',
  notAllowed: 'Вашей роли это недоступно.',
  statusTitle: 'Состояние',
  gatewayOk: 'Шлюз: работает',
  queue: 'Очередь',
  queueEmpty: 'Очередь: пусто',
  vehicles: (on: number, off: number) => `Машины: ${on} на связи, ${off} не на связи`,
  todayTitle: (date: string) => `Сегодня, ${date}`,
  apps: (c: number, d: number, x: number) => `Заказы: ${c} создано, ${d} выполнено, ${x} отменено`,
  revenue: 'Выручка',
  notifications: (sent: number, failed: number) => `Уведомления: ${sent} отправлено, ${failed} с ошибкой`,
  none: '—',
  driversTitle: (page: number, pages: number) => `Водители (стр. ${page}/${pages})`,
  noDrivers: 'Водителей нет.',
  online: 'на связи',
  offlineShort: 'не на связи',
  lastSeen: 'был',
  never: 'никогда',
  onOrder: 'на заказе',
  prev: '« Назад',
  next: 'Далее »',
  earningsTitle: (period: string) => `Заработок, ${period}`,
  alertsTitle: 'Оповещения (нажмите, чтобы включить или выключить):',
  alertKinds: {
    payment_failed: 'Платёж не прошёл',
    payment_refunded: 'Возврат платежа',
    notification_failed: 'Уведомление не доставлено',
    notification_dead_lettered: 'Уведомление в очереди ошибок',
    erp_sync_failed: 'Сбой синхронизации с ERP',
    device_offline: 'Устройство не на связи / снова на связи',
    speeding: 'Превышение скорости',
  },
  latestAlerts: 'Последние оповещения:',
  noAlerts: 'Оповещений пока нет.',
  alertCount: (n: number) => `Оповещений: ${n}`,
  andMore: (n: number) => `…и ещё ${n}`,
  gatewayDegraded: (what: string) => `Шлюз: работает с перебоями (${what})`,
  erpSync: 'Последняя синхронизация с ERP',
  distance: (km: string) => `Пробег: ${km} км`,
  distanceUnknown: 'Пробег: недоступен (нет истории GPS)',
  periods: { today: 'сегодня', week: 'эта неделя', month: 'этот месяц' },
  commands: {
    help: 'Команды',
    status: 'Шлюз, очереди, машины',
    today: 'Заказы и выручка за сегодня',
    drivers: 'Водители на линии',
    earnings: 'Заработок',
    alerts: 'Оповещения',
    stop: 'Отвязать чат',
  },
};

export const texts = (lang: Lang): Texts => (lang === 'ru' ? ru : en);

/** The command menu per language (`setMyCommands`). */
export const commandMenu = (lang: Lang) =>
  Object.entries(texts(lang).commands).map(([command, description]) => ({ command, description }));

const locale = (lang: Lang) => (lang === 'ru' ? 'ru-RU' : 'en-GB');

/** Minor units → "1 234,50 ₽" / "RUB 1,234.50", as the user's locale writes money. */
export const formatMoney = (lang: Lang, minor: number, currency: string) =>
  new Intl.NumberFormat(locale(lang), { style: 'currency', currency }).format(minor / 100);

export const formatDate = (lang: Lang, d: Date, timeZone: string) =>
  new Intl.DateTimeFormat(locale(lang), { timeZone, day: 'numeric', month: 'long', year: 'numeric' }).format(d);

export const formatDateTime = (lang: Lang, d: Date, timeZone: string) =>
  new Intl.DateTimeFormat(locale(lang), {
    timeZone,
    day: '2-digit',
    month: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).format(d);

export const formatNumber = (lang: Lang, n: number) =>
  new Intl.NumberFormat(locale(lang), { maximumFractionDigits: 1 }).format(n);

/** Midnight of `at`'s day in `timeZone` (the day /today counts). */
export const startOfDay = (at: Date, timeZone: string): Date => {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: 'numeric', minute: 'numeric', second: 'numeric' })
      .formatToParts(at)
      .map((p) => [p.type, Number(p.value)]),
  ) as { hour: number; minute: number; second: number };
  const sinceMidnight = ((parts.hour * 60 + parts.minute) * 60 + parts.second) * 1_000 + at.getMilliseconds();
  return new Date(at.getTime() - sinceMidnight);
};

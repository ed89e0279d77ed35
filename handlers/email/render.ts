import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { Eta } from 'eta/core';
import {
  EMAIL_TEMPLATE_NAMES,
  EMAIL_TEMPLATES,
  type EmailLocale,
  type EmailTemplateId,
  isEmailTemplate,
} from '../../schemas/emailTemplates.js';
import { TEMPLATES } from './templates/index.js';
import { LAYOUT_HTML, LAYOUT_STRINGS, LAYOUT_TEXT } from './templates/layout.js';

/** A template the request names that does not exist, or `data` it cannot be rendered with. */
export class TemplateError extends Error {
  constructor(
    readonly code: 'TEMPLATE_UNKNOWN' | 'TEMPLATE_DATA',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TemplateError';
  }
}

export interface RenderedEmail {
  template: EmailTemplateId;
  locale: EmailLocale;
  subject: string;
  html: string;
  text: string;
}

export interface RendererOptions {
  defaultLocale: EmailLocale;
  timeZone: string;
  /** Shown in the layout's header and signature (MAIL_FROM_NAME). */
  brand: string;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
/** `undefined`/`null` print as nothing, not as the word "undefined". */
const toText = (v: unknown) => (v === undefined || v === null ? '' : String(v));
/** A header cannot hold line breaks (header injection) or other control characters. */
const oneLine = (s: string) =>
  s
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

const INTL_LOCALE: Record<EmailLocale, string> = { ru: 'ru-RU', en: 'en-GB' };

/** Formatters are built once per locale and time zone (and currency): an `Intl` constructor costs more than a render. */
const makeHelpers = (locale: EmailLocale, timeZone: string) => {
  const dates = new Intl.DateTimeFormat(INTL_LOCALE[locale], {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone,
    timeZoneName: 'short',
  });
  const currencies = new Map<string, { fmt: Intl.NumberFormat; digits: number }>();
  return {
    date: (iso: string) => dates.format(new Date(iso)),
    money: (minor: number, currency: string) => {
      let c = currencies.get(currency);
      if (!c) {
        const fmt = new Intl.NumberFormat(INTL_LOCALE[locale], { style: 'currency', currency });
        c = { fmt, digits: fmt.resolvedOptions().maximumFractionDigits ?? 2 };
        // Unknown codes throw above and are never kept; the valid ones are a few hundred at most.
        if (currencies.size < 64) currencies.set(currency, c);
      }
      return c.fmt.format(minor / 10 ** c.digits);
    },
    nl2br: (s: unknown) => escapeHtml(toText(s)).replace(/\r\n|\r|\n/g, '<br>\n'),
  };
};

/** Per locale and time zone; an invalid zone throws on creation and is not kept. */
const helperCache = new Map<string, ReturnType<typeof makeHelpers>>();
const helpers = (locale: EmailLocale, timeZone: string) => {
  const key = `${locale}\0${timeZone}`;
  let h = helperCache.get(key);
  if (!h) {
    h = makeHelpers(locale, timeZone);
    // Bounded: time zones are data from the request.
    if (helperCache.size >= 256) helperCache.clear();
    helperCache.set(key, h);
  }
  return h;
};

const describeErrors = (template: string, data: unknown) => {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const e of Value.Errors(EMAIL_TEMPLATES[template as EmailTemplateId], data)) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    parts.push(`data${e.path.replaceAll('/', '.') || ''}: ${e.message}`);
    if (parts.length === 5) break;
  }
  return parts.join('; ');
};

/**
 * Renders the shipped templates: HTML escaped by Eta's `<%= %>`, text and subject unescaped.
 * No automatic whitespace trimming (plain text needs its line breaks); `-%>` trims one by hand.
 */
export const emailRenderer = (opts: RendererOptions) => {
  const common = { autoFilter: true, filterFunction: toText, cache: true, autoTrim: false as const };
  const html = new Eta({ ...common, autoEscape: true, escapeFunction: (v: unknown) => escapeHtml(toText(v)) });
  const text = new Eta({ ...common, autoEscape: false });
  html.loadTemplate('@layout', LAYOUT_HTML);
  text.loadTemplate('@layout', LAYOUT_TEXT);
  for (const t of Object.values(TEMPLATES)) {
    for (const [locale, src] of Object.entries(t.locales)) {
      html.loadTemplate(`@${t.name}.${locale}`, src.html);
      text.loadTemplate(`@${t.name}.${locale}`, src.text);
      text.loadTemplate(`@${t.name}.${locale}.subject`, src.subject);
    }
  }
  const checkers = Object.fromEntries(EMAIL_TEMPLATE_NAMES.map((n) => [n, TypeCompiler.Compile(EMAIL_TEMPLATES[n])]));

  return {
    render(template: string, data: Record<string, unknown> | undefined): RenderedEmail {
      if (!isEmailTemplate(template)) {
        throw new TemplateError(
          'TEMPLATE_UNKNOWN',
          `no e-mail template "${template}"; there are ${EMAIL_TEMPLATE_NAMES.join(', ')}`,
        );
      }
      const input = structuredClone(data ?? {});
      if (!checkers[template]?.Check(input)) {
        throw new TemplateError('TEMPLATE_DATA', `template ${template}: ${describeErrors(template, input)}`);
      }
      const vars = Value.Default(EMAIL_TEMPLATES[template], input) as Record<string, unknown>;
      const locale = (vars.locale as EmailLocale | undefined) ?? opts.defaultLocale;
      const timeZone = (vars.timeZone as string | undefined) ?? opts.timeZone;
      try {
        const it = { ...vars, locale, brand: opts.brand, $: helpers(locale, timeZone) };
        const subject = oneLine(text.render(`@${template}.${locale}.subject`, it));
        const frame = { locale, subject, brand: opts.brand, footer: LAYOUT_STRINGS[locale].footer };
        return {
          template,
          locale,
          subject,
          html: html.render('@layout', { ...frame, body: html.render(`@${template}.${locale}`, it) }),
          text: text.render('@layout', { ...frame, body: text.render(`@${template}.${locale}`, it) }),
        };
      } catch (e) {
        // An invalid time zone or currency code, or a date Intl cannot format: the data's fault.
        throw new TemplateError('TEMPLATE_DATA', `template ${template}: ${(e as Error).message}`, { cause: e });
      }
    },
  };
};
export type EmailRenderer = ReturnType<typeof emailRenderer>;

import { describe, expect, it } from 'vitest';
import { emailRenderer, TemplateError } from '../../handlers/email/render.js';
import { LAYOUT_STRINGS } from '../../handlers/email/templates/layout.js';
import { EMAIL_LOCALES, EMAIL_TEMPLATE_NAMES, type EmailTemplateId } from '../../schemas/emailTemplates.js';

const renderer = emailRenderer({ defaultLocale: 'ru', timeZone: 'Europe/Moscow', brand: 'Такси «Луч»' });

const XSS = '<script>alert(1)</script>';

/** Valid variables for each template, with the fields each must show. */
const samples: Record<EmailTemplateId, { data: Record<string, unknown>; shows: string[]; subject: Record<string, RegExp> }> = {
  user_registration: {
    data: { name: 'Анна', login: 'anna@example.com', loginUrl: 'https://crm.example/login' },
    shows: ['Анна', 'anna@example.com', 'https://crm.example/login'],
    subject: { ru: /^Добро пожаловать в Такси «Луч»$/, en: /^Welcome to Такси «Луч»$/ },
  },
  password_reset: {
    data: { name: 'Анна', resetUrl: 'https://crm.example/reset?t=abc&u=1', expiresInMinutes: 30 },
    shows: ['Анна', '30'],
    subject: { ru: /^Восстановление пароля$/, en: /^Password reset$/ },
  },
  application_assigned: {
    data: {
      driver: { name: 'Иван' },
      application: { number: 'A-17', pickup: 'Тверская, 1', dropoff: 'Шереметьево', pickupAt: '2026-05-01T09:30:00Z' },
      url: 'https://crm.example/applications/17',
    },
    shows: ['Иван', 'A-17', 'Тверская, 1', 'Шереметьево', '12:30'],
    subject: { ru: /^Вам назначена заявка № A-17$/, en: /^Application A-17 assigned to you$/ },
  },
  payment_receipt: {
    data: { name: 'Анна', orderId: 'ORD-9', amount: 123456, currency: 'RUB', paidAt: '2026-05-01T09:30:00Z' },
    shows: ['Анна', 'ORD-9'],
    subject: { ru: /^Оплата заказа ORD-9 получена$/, en: /^Payment received for order ORD-9$/ },
  },
  driver_alert: {
    data: {
      driver: { name: 'Иван' },
      alert: { title: 'Превышение скорости', message: '112 км/ч\nпри 60', severity: 'critical' },
      vehicle: { plate: 'А123ВС77' },
    },
    shows: ['Иван', 'Превышение скорости', '112 км/ч', 'А123ВС77'],
    subject: { ru: /^\[Срочно\] Превышение скорости$/, en: /^\[Urgent\] Превышение скорости$/ },
  },
};

describe('e-mail templates', () => {
  for (const name of EMAIL_TEMPLATE_NAMES) {
    for (const locale of EMAIL_LOCALES) {
      it(`${name} (${locale}) renders its subject, the shared layout and a text alternative`, () => {
        const s = samples[name];
        const out = renderer.render(name, { ...s.data, locale });
        expect(out).toMatchObject({ template: name, locale });
        expect(out.subject).toMatch(s.subject[locale] as RegExp);
        // The layout: document language, title = subject, brand header, localized footer.
        expect(out.html).toMatch(/^<!DOCTYPE html>/);
        expect(out.html).toContain(`<html lang="${locale}">`);
        expect(out.html).toContain(`<title>${out.subject.replaceAll('"', '&quot;')}</title>`);
        expect(out.html).toContain('Такси «Луч»');
        expect(out.html).toContain(LAYOUT_STRINGS[locale].footer);
        expect(out.text).toContain(`\n-- \nТакси «Луч»\n`);
        expect(out.text).toContain(LAYOUT_STRINGS[locale].footer);
        for (const v of s.shows) {
          expect(out.html).toContain(v);
          expect(out.text).toContain(v);
        }
        // The text alternative is plain text, not HTML with the tags left in.
        expect(out.text).not.toMatch(/<\/?(p|table|td|a|strong|br)\b/);
        expect(out.text).not.toContain('undefined');
        expect(out.html).not.toContain('undefined');
      });
    }
  }

  it('localizes dates, money and greetings', () => {
    const ru = renderer.render('payment_receipt', { ...samples.payment_receipt.data, locale: 'ru' });
    const en = renderer.render('payment_receipt', { ...samples.payment_receipt.data, locale: 'en' });
    expect(ru.text).toMatch(/Сумма: 1\s234,56\s₽/);
    expect(en.text).toMatch(/Amount: RUB\s1,234\.56/);
    expect(ru.html).toMatch(/<strong>1\s234,56\s₽<\/strong>/);
    expect(ru.text).toContain('1 мая 2026 г.');
    expect(en.text).toContain('1 May 2026');
    expect(ru.text.startsWith('Здравствуйте, Анна!')).toBe(true);
    expect(en.text.startsWith('Hello Анна,')).toBe(true);
  });

  it('takes the default locale when the data names none, and the time zone from the data', () => {
    const data = samples.application_assigned.data;
    expect(renderer.render('application_assigned', data).locale).toBe('ru');
    const enDefault = emailRenderer({ defaultLocale: 'en', timeZone: 'UTC', brand: 'x' });
    const out = enDefault.render('application_assigned', data);
    expect([out.locale, out.subject]).toEqual(['en', 'Application A-17 assigned to you']);
    expect(out.text).toContain('09:30');
    expect(enDefault.render('application_assigned', { ...data, timeZone: 'Asia/Vladivostok' }).text).toContain('19:30');
  });

  it('escapes a customer name with markup in HTML and keeps it readable in text and subject', () => {
    const out = renderer.render('application_assigned', {
      driver: { name: XSS },
      application: { number: `<img src=x onerror=alert(1)>`, comment: `"quoted" & 'single'\n<b>bold</b>` },
      url: 'https://crm.example/a?x=1&y="2"',
    });
    expect(out.html).not.toContain('<script>');
    expect(out.html).not.toContain('<img');
    expect(out.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(out.html).toContain('&quot;quoted&quot; &amp; &#39;single&#39;<br>\n&lt;b&gt;bold&lt;/b&gt;');
    // An attribute cannot be closed from inside a value.
    expect(out.html).toContain('href="https://crm.example/a?x=1&amp;y=&quot;2&quot;"');
    // Plain text is not interpreted: the name is shown as typed.
    expect(out.text).toContain(`Здравствуйте, ${XSS}!`);
    expect(out.subject).toBe('Вам назначена заявка № <img src=x onerror=alert(1)>');
    // The <title> (from the subject) is escaped as well.
    expect(out.html).toContain('<title>Вам назначена заявка № &lt;img src=x onerror=alert(1)&gt;</title>');
  });

  it('keeps a subject on one line (no header injection through a variable)', () => {
    const out = renderer.render('application_assigned', {
      driver: { name: 'Иван' },
      application: { number: 'A-1\r\nBcc: victim@example.com' },
    });
    expect(out.subject).toBe('Вам назначена заявка № A-1 Bcc: victim@example.com');
  });

  it('refuses a javascript: link (the schema allows http(s) only)', () => {
    expect(() => renderer.render('password_reset', { name: 'A', resetUrl: 'javascript:alert(1)' })).toThrowError(
      /data\.resetUrl/,
    );
  });

  it('names the missing template and the missing variables', () => {
    const unknown = (() => {
      try {
        renderer.render('invoice', {});
      } catch (e) {
        return e;
      }
    })() as TemplateError;
    expect(unknown).toBeInstanceOf(TemplateError);
    expect(unknown.code).toBe('TEMPLATE_UNKNOWN');
    expect(unknown.message).toContain('no e-mail template "invoice"');
    expect(unknown.message).toContain('application_assigned');

    const missing = (() => {
      try {
        renderer.render('application_assigned', { driver: {} });
      } catch (e) {
        return e;
      }
    })() as TemplateError;
    expect(missing.code).toBe('TEMPLATE_DATA');
    expect(missing.message).toMatch(/^template application_assigned: /);
    expect(missing.message).toContain('data.application: Expected required property');
    expect(missing.message).toContain('data.driver.name: Expected required property');
  });

  it('refuses an unknown locale, currency or time zone as a data error', () => {
    const base = samples.payment_receipt.data;
    for (const data of [
      { ...base, locale: 'de' },
      { ...base, currency: 'rub' },
      { ...base, timeZone: 'Mars/Olympus' },
    ]) {
      expect(() => renderer.render('payment_receipt', data)).toThrowError(TemplateError);
    }
  });
});

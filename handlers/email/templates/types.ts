import type { EmailLocale, EmailTemplateId } from '../../../schemas/emailTemplates.js';

/**
 * One template in one language, as Eta sources. `html` is rendered with every `<%= %>` escaped;
 * `text` and `subject` without escaping (plain text is not interpreted). The shared layout
 * (`layout.ts`) wraps both bodies; a template never includes it itself.
 *
 * In scope: `it` = the request's `data` (defaults applied), plus `it.locale`, `it.brand`,
 * `it.$.date(iso)`, `it.$.money(minor, currency)` and, in HTML only, `it.$.nl2br(text)`
 * (escapes, then turns line breaks into `<br>`; output it with `<%~ %>`).
 */
export interface LocalizedTemplate {
  subject: string;
  html: string;
  text: string;
}

export interface EmailTemplate {
  name: EmailTemplateId;
  locales: Record<EmailLocale, LocalizedTemplate>;
}

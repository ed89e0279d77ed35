import type { EmailLocale } from '../../../schemas/emailTemplates.js';

/** Wording of the layout per language. */
export const LAYOUT_STRINGS: Record<EmailLocale, { footer: string }> = {
  ru: { footer: 'Это письмо отправлено автоматически, отвечать на него не нужно.' },
  en: { footer: 'This message was sent automatically; please do not reply to it.' },
};

/**
 * The one HTML frame of every e-mail: tables and inline styles, because mail clients
 * (Outlook, Gmail) drop `<style>` blocks and most CSS layout. `it.body` is the rendered,
 * already escaped template body.
 */
export const LAYOUT_HTML = `<!DOCTYPE html>
<html lang="<%= it.locale %>">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.subject %></title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2933;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border-radius:8px;">
<tr><td style="padding:20px 32px;border-bottom:1px solid #e4e7eb;font-size:18px;font-weight:bold;"><%= it.brand %></td></tr>
<tr><td class="content" style="padding:24px 32px;font-size:15px;line-height:1.5;">
<%~ it.body %>
</td></tr>
<tr><td style="padding:16px 32px;border-top:1px solid #e4e7eb;font-size:12px;color:#7b8794;"><%= it.footer %></td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;

/** The text alternative's frame: the body, then a signature block ("-- " is the RFC 3676 delimiter). */
export const LAYOUT_TEXT = `<%~ it.body.trim() %>

-- 
<%= it.brand %>

<%= it.footer %>
`;

/** Inline styles the templates share, so every e-mail looks the same. */
export const BUTTON_STYLE =
  'display:inline-block;padding:10px 20px;background:#2563eb;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:bold;';
export const TABLE_STYLE = 'border-collapse:collapse;margin:12px 0;';
export const LABEL_STYLE = 'padding:4px 16px 4px 0;color:#52606d;vertical-align:top;';
export const VALUE_STYLE = 'padding:4px 0;vertical-align:top;';

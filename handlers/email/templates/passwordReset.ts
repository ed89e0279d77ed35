import { BUTTON_STYLE } from './layout.js';
import type { EmailTemplate } from './types.js';

export const passwordReset: EmailTemplate = {
  name: 'password_reset',
  locales: {
    ru: {
      subject: 'Восстановление пароля',
      html: `<p>Здравствуйте, <%= it.name %>!</p>
<p>Мы получили запрос на смену пароля к вашей учётной записи.</p>
<p><a href="<%= it.resetUrl %>" style="${BUTTON_STYLE}">Задать новый пароль</a></p>
<p>Ссылка действует <%= it.expiresInMinutes %> мин. Если вы не запрашивали смену пароля, просто проигнорируйте это письмо: пароль останется прежним.</p>
`,
      text: `Здравствуйте, <%= it.name %>!

Мы получили запрос на смену пароля к вашей учётной записи.
Задать новый пароль: <%= it.resetUrl %>

Ссылка действует <%= it.expiresInMinutes %> мин. Если вы не запрашивали смену пароля, просто проигнорируйте это письмо: пароль останется прежним.
`,
    },
    en: {
      subject: 'Password reset',
      html: `<p>Hello <%= it.name %>,</p>
<p>We received a request to reset the password of your account.</p>
<p><a href="<%= it.resetUrl %>" style="${BUTTON_STYLE}">Choose a new password</a></p>
<p>The link is valid for <%= it.expiresInMinutes %> minutes. If you did not ask for this, ignore this message: your password stays the same.</p>
`,
      text: `Hello <%= it.name %>,

We received a request to reset the password of your account.
Choose a new password: <%= it.resetUrl %>

The link is valid for <%= it.expiresInMinutes %> minutes. If you did not ask for this, ignore this message: your password stays the same.
`,
    },
  },
};

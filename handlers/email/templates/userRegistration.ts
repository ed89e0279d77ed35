import { BUTTON_STYLE } from './layout.js';
import type { EmailTemplate } from './types.js';

export const userRegistration: EmailTemplate = {
  name: 'user_registration',
  locales: {
    ru: {
      subject: 'Добро пожаловать в <%= it.brand %>',
      html: `<p>Здравствуйте, <%= it.name %>!</p>
<p>Для вас создана учётная запись в <%= it.brand %>. Ваш логин: <strong><%= it.login %></strong>.</p>
<% if (it.activationUrl) { %>
<p>Чтобы начать работу, подтвердите адрес электронной почты:</p>
<p><a href="<%= it.activationUrl %>" style="${BUTTON_STYLE}">Подтвердить адрес</a></p>
<% } else { %>
<p><a href="<%= it.loginUrl %>" style="${BUTTON_STYLE}">Войти</a></p>
<% } %>
<p>Страница входа: <a href="<%= it.loginUrl %>"><%= it.loginUrl %></a></p>
`,
      text: `Здравствуйте, <%= it.name %>!

Для вас создана учётная запись в <%= it.brand %>. Ваш логин: <%= it.login %>.
<% if (it.activationUrl) { -%>

Чтобы начать работу, подтвердите адрес электронной почты:
<%= it.activationUrl %>
<% } -%>

Страница входа: <%= it.loginUrl %>
`,
    },
    en: {
      subject: 'Welcome to <%= it.brand %>',
      html: `<p>Hello <%= it.name %>,</p>
<p>An account has been created for you in <%= it.brand %>. Your login: <strong><%= it.login %></strong>.</p>
<% if (it.activationUrl) { %>
<p>To get started, please confirm your e-mail address:</p>
<p><a href="<%= it.activationUrl %>" style="${BUTTON_STYLE}">Confirm address</a></p>
<% } else { %>
<p><a href="<%= it.loginUrl %>" style="${BUTTON_STYLE}">Sign in</a></p>
<% } %>
<p>Sign-in page: <a href="<%= it.loginUrl %>"><%= it.loginUrl %></a></p>
`,
      text: `Hello <%= it.name %>,

An account has been created for you in <%= it.brand %>. Your login: <%= it.login %>.
<% if (it.activationUrl) { -%>

To get started, please confirm your e-mail address:
<%= it.activationUrl %>
<% } -%>

Sign-in page: <%= it.loginUrl %>
`,
    },
  },
};

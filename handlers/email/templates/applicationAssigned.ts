import { BUTTON_STYLE, LABEL_STYLE, TABLE_STYLE, VALUE_STYLE } from './layout.js';
import type { EmailTemplate } from './types.js';

const row = (label: string, value: string, when: string) =>
  `<% if (${when}) { %><tr><td style="${LABEL_STYLE}">${label}</td><td style="${VALUE_STYLE}">${value}</td></tr><% } %>\n`;
const line = (label: string, value: string, when: string) => `<% if (${when}) { %>${label}: ${value}\n<% } %>`;

const a = 'it.application';

export const applicationAssigned: EmailTemplate = {
  name: 'application_assigned',
  locales: {
    ru: {
      subject: 'Вам назначена заявка № <%= it.application.number %>',
      html: `<p>Здравствуйте, <%= it.driver.name %>!</p>
<p>Вам назначена заявка <strong>№ <%= it.application.number %></strong>.</p>
<table role="presentation" style="${TABLE_STYLE}">
${row('Время подачи', `<%= it.$.date(${a}.pickupAt) %>`, `${a}.pickupAt`)}${row('Откуда', `<%= ${a}.pickup %>`, `${a}.pickup`)}${row('Куда', `<%= ${a}.dropoff %>`, `${a}.dropoff`)}${row('Клиент', `<%= ${a}.customer %>`, `${a}.customer`)}${row('Телефон', `<%= ${a}.customerPhone %>`, `${a}.customerPhone`)}${row('Комментарий', `<%~ it.$.nl2br(${a}.comment) %>`, `${a}.comment`)}</table>
<% if (it.url) { %><p><a href="<%= it.url %>" style="${BUTTON_STYLE}">Открыть заявку</a></p><% } %>
`,
      text: `Здравствуйте, <%= it.driver.name %>!

Вам назначена заявка № <%= it.application.number %>.

${line('Время подачи', `<%= it.$.date(${a}.pickupAt) %>`, `${a}.pickupAt`)}${line('Откуда', `<%= ${a}.pickup %>`, `${a}.pickup`)}${line('Куда', `<%= ${a}.dropoff %>`, `${a}.dropoff`)}${line('Клиент', `<%= ${a}.customer %>`, `${a}.customer`)}${line('Телефон', `<%= ${a}.customerPhone %>`, `${a}.customerPhone`)}${line('Комментарий', `<%= ${a}.comment %>`, `${a}.comment`)}<% if (it.url) { -%>

Открыть заявку: <%= it.url %>
<% } -%>
`,
    },
    en: {
      subject: 'Application <%= it.application.number %> assigned to you',
      html: `<p>Hello <%= it.driver.name %>,</p>
<p>Application <strong><%= it.application.number %></strong> has been assigned to you.</p>
<table role="presentation" style="${TABLE_STYLE}">
${row('Pickup time', `<%= it.$.date(${a}.pickupAt) %>`, `${a}.pickupAt`)}${row('From', `<%= ${a}.pickup %>`, `${a}.pickup`)}${row('To', `<%= ${a}.dropoff %>`, `${a}.dropoff`)}${row('Customer', `<%= ${a}.customer %>`, `${a}.customer`)}${row('Phone', `<%= ${a}.customerPhone %>`, `${a}.customerPhone`)}${row('Comment', `<%~ it.$.nl2br(${a}.comment) %>`, `${a}.comment`)}</table>
<% if (it.url) { %><p><a href="<%= it.url %>" style="${BUTTON_STYLE}">Open the application</a></p><% } %>
`,
      text: `Hello <%= it.driver.name %>,

Application <%= it.application.number %> has been assigned to you.

${line('Pickup time', `<%= it.$.date(${a}.pickupAt) %>`, `${a}.pickupAt`)}${line('From', `<%= ${a}.pickup %>`, `${a}.pickup`)}${line('To', `<%= ${a}.dropoff %>`, `${a}.dropoff`)}${line('Customer', `<%= ${a}.customer %>`, `${a}.customer`)}${line('Phone', `<%= ${a}.customerPhone %>`, `${a}.customerPhone`)}${line('Comment', `<%= ${a}.comment %>`, `${a}.comment`)}<% if (it.url) { -%>

Open the application: <%= it.url %>
<% } -%>
`,
    },
  },
};

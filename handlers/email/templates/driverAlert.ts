import { BUTTON_STYLE, LABEL_STYLE, TABLE_STYLE, VALUE_STYLE } from './layout.js';
import type { EmailTemplate } from './types.js';

const COLOURS = "({ info: '#2563eb', warning: '#d97706', critical: '#dc2626' })[it.alert.severity ?? 'info']";

export const driverAlert: EmailTemplate = {
  name: 'driver_alert',
  locales: {
    ru: {
      subject: "<%= ({ critical: '[Срочно] ', warning: '[Внимание] ' })[it.alert.severity] ?? '' %><%= it.alert.title %>",
      html: `<p>Здравствуйте, <%= it.driver.name %>!</p>
<p style="padding:12px 16px;border-left:4px solid <%= ${COLOURS} %>;background:#f9fafb;"><strong><%= it.alert.title %></strong><br><%~ it.$.nl2br(it.alert.message) %></p>
<table role="presentation" style="${TABLE_STYLE}">
<% if (it.vehicle) { %><tr><td style="${LABEL_STYLE}">Автомобиль</td><td style="${VALUE_STYLE}"><%= it.vehicle.plate %></td></tr><% } %>
<% if (it.alert.occurredAt) { %><tr><td style="${LABEL_STYLE}">Время</td><td style="${VALUE_STYLE}"><%= it.$.date(it.alert.occurredAt) %></td></tr><% } %>
</table>
<% if (it.url) { %><p><a href="<%= it.url %>" style="${BUTTON_STYLE}">Подробнее</a></p><% } %>
`,
      text: `Здравствуйте, <%= it.driver.name %>!

<%= it.alert.title %>
<%= it.alert.message %>

<% if (it.vehicle) { %>Автомобиль: <%= it.vehicle.plate %>
<% } %><% if (it.alert.occurredAt) { %>Время: <%= it.$.date(it.alert.occurredAt) %>
<% } %><% if (it.url) { %>Подробнее: <%= it.url %>
<% } %>`,
    },
    en: {
      subject: "<%= ({ critical: '[Urgent] ', warning: '[Warning] ' })[it.alert.severity] ?? '' %><%= it.alert.title %>",
      html: `<p>Hello <%= it.driver.name %>,</p>
<p style="padding:12px 16px;border-left:4px solid <%= ${COLOURS} %>;background:#f9fafb;"><strong><%= it.alert.title %></strong><br><%~ it.$.nl2br(it.alert.message) %></p>
<table role="presentation" style="${TABLE_STYLE}">
<% if (it.vehicle) { %><tr><td style="${LABEL_STYLE}">Vehicle</td><td style="${VALUE_STYLE}"><%= it.vehicle.plate %></td></tr><% } %>
<% if (it.alert.occurredAt) { %><tr><td style="${LABEL_STYLE}">Time</td><td style="${VALUE_STYLE}"><%= it.$.date(it.alert.occurredAt) %></td></tr><% } %>
</table>
<% if (it.url) { %><p><a href="<%= it.url %>" style="${BUTTON_STYLE}">Details</a></p><% } %>
`,
      text: `Hello <%= it.driver.name %>,

<%= it.alert.title %>
<%= it.alert.message %>

<% if (it.vehicle) { %>Vehicle: <%= it.vehicle.plate %>
<% } %><% if (it.alert.occurredAt) { %>Time: <%= it.$.date(it.alert.occurredAt) %>
<% } %><% if (it.url) { %>Details: <%= it.url %>
<% } %>`,
    },
  },
};

import { BUTTON_STYLE, LABEL_STYLE, TABLE_STYLE, VALUE_STYLE } from './layout.js';
import type { EmailTemplate } from './types.js';

const row = (label: string, value: string, when = 'true') =>
  `<% if (${when}) { %><tr><td style="${LABEL_STYLE}">${label}</td><td style="${VALUE_STYLE}">${value}</td></tr><% } %>\n`;
const line = (label: string, value: string, when = 'true') => `<% if (${when}) { %>${label}: ${value}\n<% } %>`;

const AMOUNT = '<%= it.$.money(it.amount, it.currency) %>';

export const paymentReceipt: EmailTemplate = {
  name: 'payment_receipt',
  locales: {
    ru: {
      subject: 'Оплата заказа <%= it.orderId %> получена',
      html: `<p>Здравствуйте, <%= it.name %>!</p>
<p>Мы получили вашу оплату. Спасибо!</p>
<table role="presentation" style="${TABLE_STYLE}">
${row('Заказ', '<%= it.orderId %>')}${row('Сумма', `<strong>${AMOUNT}</strong>`)}${row('Дата оплаты', '<%= it.$.date(it.paidAt) %>')}${row('Назначение', '<%= it.description %>', 'it.description')}${row('Способ оплаты', '<%= it.paymentMethod %>', 'it.paymentMethod')}</table>
<% if (it.receiptUrl) { %><p><a href="<%= it.receiptUrl %>" style="${BUTTON_STYLE}">Кассовый чек</a></p><% } %>
`,
      text: `Здравствуйте, <%= it.name %>!

Мы получили вашу оплату. Спасибо!

${line('Заказ', '<%= it.orderId %>')}${line('Сумма', AMOUNT)}${line('Дата оплаты', '<%= it.$.date(it.paidAt) %>')}${line('Назначение', '<%= it.description %>', 'it.description')}${line('Способ оплаты', '<%= it.paymentMethod %>', 'it.paymentMethod')}<% if (it.receiptUrl) { -%>

Кассовый чек: <%= it.receiptUrl %>
<% } -%>
`,
    },
    en: {
      subject: 'Payment received for order <%= it.orderId %>',
      html: `<p>Hello <%= it.name %>,</p>
<p>We have received your payment. Thank you!</p>
<table role="presentation" style="${TABLE_STYLE}">
${row('Order', '<%= it.orderId %>')}${row('Amount', `<strong>${AMOUNT}</strong>`)}${row('Paid at', '<%= it.$.date(it.paidAt) %>')}${row('Description', '<%= it.description %>', 'it.description')}${row('Payment method', '<%= it.paymentMethod %>', 'it.paymentMethod')}</table>
<% if (it.receiptUrl) { %><p><a href="<%= it.receiptUrl %>" style="${BUTTON_STYLE}">Receipt</a></p><% } %>
`,
      text: `Hello <%= it.name %>,

We have received your payment. Thank you!

${line('Order', '<%= it.orderId %>')}${line('Amount', AMOUNT)}${line('Paid at', '<%= it.$.date(it.paidAt) %>')}${line('Description', '<%= it.description %>', 'it.description')}${line('Payment method', '<%= it.paymentMethod %>', 'it.paymentMethod')}<% if (it.receiptUrl) { -%>

Receipt: <%= it.receiptUrl %>
<% } -%>
`,
    },
  },
};

import { type AsyncApiInfo, buildAsyncApi } from '../asyncapi.js';
import { defineRoute, type RouteSpec } from '../route.js';
import { DOCS_CSP } from './docs.js';

type Json = Record<string, unknown>;

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** `#/components/messages/x` → x. */
const refName = (r: unknown) =>
  String((r as { $ref?: string }).$ref ?? '')
    .split('/')
    .pop() ?? '';

/**
 * The catalogue as one static page: channels with their addresses, then each message's payload
 * schema. Server-rendered without scripts (the same CSP as /docs); generators read /asyncapi.json.
 */
const page = (doc: Json): string => {
  const channels = doc.channels as Record<string, Json>;
  const messages = (doc.components as { messages: Record<string, Json> }).messages;
  const operations = doc.operations as Record<string, Json>;
  const actionsOf = (channelId: string) =>
    Object.values(operations)
      .filter((o) => (o.channel as { $ref: string }).$ref === `#/channels/${channelId}`)
      .map((o) => `${o.action}: ${(o.messages as unknown[]).map(refName).join(', ')}`);
  const toc = Object.entries(channels)
    .map(([id, c]) => {
      const names = Object.values(c.messages as Json).map(refName);
      const links = names.map((n) => `<a href="#msg-${escapeHtml(n)}">${escapeHtml(n)}</a>`).join(' · ');
      return `<section id="ch-${escapeHtml(id)}"><h2><code>${escapeHtml(String(c.address))}</code></h2>
<p>${escapeHtml(String(c.description ?? ''))}</p><p class="ops">${actionsOf(id).map(escape).join('<br>')}</p><p>${links}</p></section>`;
    })
    .join('\n');
  const bodies = Object.entries(messages)
    .map(
      ([name, m]) =>
        `<section id="msg-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3><pre>${escapeHtml(JSON.stringify(m.payload, null, 2))}</pre></section>`,
    )
    .join('\n');
  const info = doc.info as { title: string; version: string; description: string };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(info.title)}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f5f5f5;padding:.6rem;overflow:auto;font-size:12px}h2{font-size:1.05rem;margin-bottom:.2rem}.ops{color:#555}</style>
</head>
<body>
<h1>${escapeHtml(info.title)} <small>${escapeHtml(info.version)}</small></h1>
<p>${escapeHtml(info.description)}</p>
<p><a href="/asyncapi.json">/asyncapi.json</a> (AsyncAPI 3.0) · <a href="/docs">HTTP API (/docs)</a></p>
${toc}
<h2>Messages</h2>
${bodies}
</body>
</html>
`;
};

/** `/asyncapi.json` (the event catalogue) and `/docs/events`, a page to read it in beside `/docs`. */
export const asyncApiRoutes = (info: AsyncApiInfo): RouteSpec[] => {
  // Declarations never change while the process runs: build once, serve the same bytes.
  let json: string | undefined;
  let html: string | undefined;
  const doc = () => buildAsyncApi(info);
  return [
    defineRoute({
      method: 'GET',
      path: '/asyncapi.json',
      operationId: 'getAsyncApi',
      summary: 'The event catalogue as an AsyncAPI 3.0 document',
      description:
        'The event log’s subjects and events, the MQTT topics with their payloads, and the messages of `/v1/ws/driver` and `/v1/ws/live`, generated from the same schemas as the events. Browsable at `/docs/events`.',
      tags: ['docs'],
      auth: 'public',
      responses: { 200: { description: 'The AsyncAPI document', type: 'application/json' } },
      async handle() {
        json ??= JSON.stringify(doc());
        return { status: 200, raw: json, type: 'application/json; charset=utf-8', headers: { 'cache-control': 'no-cache' } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/docs/events',
      operationId: 'getEventDocsPage',
      summary: 'Browsable event catalogue',
      tags: ['docs'],
      auth: 'public',
      hidden: true,
      responses: { 200: { description: 'The event catalogue page', type: 'text/html' } },
      async handle() {
        html ??= page(doc());
        return {
          status: 200,
          raw: html,
          type: 'text/html; charset=utf-8',
          headers: { 'content-security-policy': DOCS_CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' },
        };
      },
    }),
  ];
};

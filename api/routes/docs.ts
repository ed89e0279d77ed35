import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildOpenApi, type OpenApiInfo } from '../openapi.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RouteSpec } from '../route.js';

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/**
 * The only files served from swagger-ui-dist. An allowlist rather than a path check: the asset
 * name comes from the URL, and nothing else in that folder (or above it) is meant to be public.
 */
const DIST_ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': CSS,
  'index.css': CSS,
  'swagger-ui-bundle.js': JS,
  'favicon-16x16.png': 'image/png',
  'favicon-32x32.png': 'image/png',
};

// A separate file, not an inline <script>, so the page works under `script-src 'self'`.
// validatorUrl: null stops swagger-ui from sending the document to its public online validator.
const INIT_JS = `'use strict';
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
});
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleetgate API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="stylesheet" href="/docs/assets/index.css">
<link rel="icon" type="image/png" sizes="32x32" href="/docs/assets/favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="/docs/assets/favicon-16x16.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`;

/** Everything from this origin; swagger-ui's CSS draws its icons from data: URIs. */
export const DOCS_CSP =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const ASSET_HEADERS = { 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' };

/** `/openapi.json`, the `/docs` page and its assets. `getRoutes` is read on first use, so it may include these routes. */
export const docsRoutes = (getRoutes: () => readonly RouteSpec[], info: OpenApiInfo): RouteSpec[] => {
  const distDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const files = new Map<string, Promise<Buffer>>();
  let openapi: string | undefined;

  const asset = async (name: string): Promise<{ body: Buffer; type: string }> => {
    if (name === 'init.js') return { body: Buffer.from(INIT_JS), type: JS };
    const type = Object.hasOwn(DIST_ASSETS, name) ? DIST_ASSETS[name] : undefined;
    if (!type) throw new HttpProblem('GW_ERR_ROUTE_NOT_FOUND', `no docs asset '${name}'`);
    // Read once and kept: the bundle is ~1.5 MB and never changes while the process runs.
    let file = files.get(name);
    if (!file) {
      file = readFile(join(distDir, name));
      files.set(name, file);
    }
    return { body: await file, type };
  };

  return [
    defineRoute({
      method: 'GET',
      path: '/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This API as an OpenAPI 3.1 document',
      tags: ['docs'],
      auth: 'public',
      responses: { 200: { description: 'The OpenAPI document', type: 'application/json' } },
      async handle() {
        // Routes never change after start-up: build once, serve the same bytes every time.
        openapi ??= JSON.stringify(buildOpenApi(getRoutes(), info));
        return { status: 200, raw: openapi, type: 'application/json; charset=utf-8', headers: { 'cache-control': 'no-cache' } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/docs',
      operationId: 'getDocsPage',
      summary: 'Browsable API documentation (swagger-ui)',
      tags: ['docs'],
      auth: 'public',
      hidden: true,
      responses: { 200: { description: 'The documentation page', type: 'text/html' } },
      async handle() {
        return {
          status: 200,
          raw: HTML,
          type: 'text/html; charset=utf-8',
          headers: { 'content-security-policy': DOCS_CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/docs/assets/{file}',
      operationId: 'getDocsAsset',
      summary: 'A static file of the documentation page',
      tags: ['docs'],
      auth: 'public',
      hidden: true,
      responses: { 200: { description: 'The file' }, 404: { description: 'No such asset' } },
      async handle(ctx) {
        const { body, type } = await asset(ctx.params.file ?? '');
        return { status: 200, raw: body, type, headers: ASSET_HEADERS };
      },
    }),
  ];
};

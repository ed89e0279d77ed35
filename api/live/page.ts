import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../core/paths.js';
import { defineRoute, type RouteSpec } from '../route.js';

const ASSETS = join(packageRoot, 'api', 'live', 'assets');
const read = (name: string) => readFileSync(join(ASSETS, name), 'utf8');
const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * `GET /live`: the live map, served from local files (no CDN, no external tiles unless
 * LIVE_TILE_URL names a tile server). The page asks for an API key with the vehicles scope and
 * talks to `/v1/ws/live`; the CSP allows nothing but this origin (and the tile host).
 */
export const livePageRoutes = (opts: { tileUrl: string | undefined }): RouteSpec[] => {
  const tileOrigin = opts.tileUrl ? new URL(opts.tileUrl.replace(/\{[xyz]\}/g, '0')).origin : '';
  const html = read('live.html').replace(
    '<html lang="en">',
    `<html lang="en"${opts.tileUrl ? ` data-tiles="${escapeAttr(opts.tileUrl)}"` : ''}>`,
  );
  const csp = `default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:${tileOrigin ? ` ${tileOrigin}` : ''}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`;
  const files: Record<string, { body: string; type: string }> = {
    '/live': { body: html, type: 'text/html; charset=utf-8' },
    '/live/live.js': { body: read('live.js'), type: 'text/javascript; charset=utf-8' },
    '/live/live.css': { body: read('live.css'), type: 'text/css; charset=utf-8' },
  };
  return Object.entries(files).map(([path, f]) =>
    defineRoute({
      method: 'GET',
      path,
      operationId: `live${path.replace(/\W+/g, '_')}`,
      summary: 'The live map page',
      tags: ['live'],
      auth: 'public',
      hidden: true,
      responses: { 200: { description: 'the page', type: f.type } },
      handle: async () => ({
        status: 200,
        raw: f.body,
        type: f.type,
        headers: { 'content-security-policy': csp, 'cache-control': 'no-cache' },
      }),
    }),
  );
};

import type * as Uws from 'uWebSockets.js';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** uWebSockets.js; its package silently falls back to a slow pure-JS build when the binary fails. */
export const uws = require('uWebSockets.js') as typeof Uws;

/** uSockets' listen option for a port of our own (no SO_REUSEPORT); the typings declare it as a type only. */
export const LISTEN_EXCLUSIVE_PORT = (uws as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT: number }).LIBUS_LISTEN_EXCLUSIVE_PORT;

/** Did the native binary for this Node ABI load (not the `ws` fallback)? */
export const uwsIsNative = (): boolean => Object.keys(require.cache).some((k) => /[\\/]uws_[^\\/]+\.node$/.test(k));

export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket, WebSocketBehavior } from 'uWebSockets.js';

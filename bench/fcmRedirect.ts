/**
 * Preloaded into the gateway by `npm run bench -- notify` (`node --import`): firebase-admin has no
 * endpoint option (PROVIDERS.md §5), so with BENCH_FCM_FAKE_PORT set every HTTPS connection to a
 * `*.googleapis.com` host (the OAuth token endpoint and FCM) opens a plain socket to the fake,
 * which tells the two apart by the Host header. Node's https client speaks HTTP/1.1 over the socket
 * it is handed; the push sender's own keep-alive agent and code path stay those used live.
 */
import https from 'node:https';
import net from 'node:net';

const port = Number(process.env.BENCH_FCM_FAKE_PORT ?? 0);
if (port > 0) {
  type Connect = (this: https.Agent, options: { host?: string | null; hostname?: string | null }, cb?: unknown) => net.Socket;
  const proto = https.Agent.prototype as unknown as { createConnection: Connect };
  const original = proto.createConnection;
  proto.createConnection = function (options, cb) {
    const host = options.host ?? options.hostname ?? '';
    if (/(^|\.)googleapis\.com$/.test(host)) return net.connect(port, '127.0.0.1');
    return original.call(this, options, cb);
  };
}

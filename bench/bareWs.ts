/**
 * The ceiling for `npm run bench -- ws`: a bare uWebSockets.js server that only parses each JSON
 * message and answers an ack with its ids (the driver protocol without auth, validation or log).
 */
import { uws } from '../core/http/uws.js';

const app = uws.App();
app.ws('/*', {
  maxPayloadLength: 128 * 1024,
  idleTimeout: 120,
  message: (ws, message) => {
    const m = JSON.parse(Buffer.from(message).toString('utf8')) as { id?: string; items?: { id: string }[] };
    ws.send(JSON.stringify({ type: 'ack', ids: m.items ? m.items.map((i) => i.id) : [m.id] }));
  },
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) process.exit(1);
  process.stdout.write(`${uws.us_socket_local_port(token)}\n`);
});

/**
 * The ceiling for `npm run bench -- api`: a bare uWebSockets.js server that reads the body and
 * answers 202 without any work. Run as a child process: prints its port, then serves.
 */
import { uws } from '../core/http/uws.js';

const app = uws.App();
app.post('/*', (res) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((_chunk, isLast) => {
    if (!isLast || aborted) return;
    res.cork(() => res.writeStatus('202 Accepted').writeHeader('content-type', 'application/json').end('{"status":"queued"}'));
  });
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) process.exit(1);
  process.stdout.write(`${uws.us_socket_local_port(token)}\n`);
});

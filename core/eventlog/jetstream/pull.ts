import { createInbox, type Msg, type NatsConnection, nanos } from '@nats-io/nats-core';
import type { StreamName } from '../port.js';
import { unavailable } from './errors.js';

/**
 * A no_wait batch comes back to back. At MaxAckPending nats-server 2.9 sends a partly filled
 * no_wait batch without a closing status, so without this the caller would sit on deliveries it
 * does not yet hold (none kept alive) until `timeout`, and they could outlive ack wait.
 */
const NO_WAIT_QUIET_MS = 100;

/**
 * One pull request to a durable consumer. `expiresMs` 0 = no_wait: the server answers at once
 * with what it has. Ends on `batch` messages or a status (404 nothing, 408 expired, 409 e.g. too
 * many waiting pulls); the server ending it matters, as a still-open pull would take later
 * deliveries for nobody.
 */
export const pullRequest =
  (nc: NatsConnection, timeout: number, stream: StreamName, name: string) => (batch: number, expiresMs: number) =>
    new Promise<Msg[]>((resolve, reject) => {
      const got: Msg[] = [];
      const inbox = createInbox();
      let quiet: NodeJS.Timeout | undefined;
      const finish = (err?: unknown) => {
        clearTimeout(timer);
        clearTimeout(quiet);
        sub.unsubscribe();
        if (err) reject(unavailable(`fetch ${stream}/${name}`, err));
        else resolve(got);
      };
      const sub = nc.subscribe(inbox, {
        callback: (err, m) => {
          if (err) return finish(err);
          if (m.reply) {
            got.push(m);
            if (got.length >= batch) finish();
            else if (expiresMs <= 0) {
              clearTimeout(quiet);
              quiet = setTimeout(finish, NO_WAIT_QUIET_MS);
            }
            return;
          }
          const code = m.headers?.code ?? 0;
          if (code === 100) return; // idle heartbeat
          if (code === 503) return finish(new Error(`no responders: consumer ${stream}/${name} missing`));
          finish();
        },
      });
      const timer = setTimeout(finish, expiresMs + timeout);
      const req = expiresMs > 0 ? { batch, expires: nanos(expiresMs) } : { batch, no_wait: true };
      nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, JSON.stringify(req), { reply: inbox });
    });

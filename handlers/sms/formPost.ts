import http from 'node:http';
import https from 'node:https';

export interface FormAnswer {
  status: number;
  /** A response header (lower-case name), the first if repeated. */
  header(name: string): string | undefined;
  text: string;
}

/**
 * A failure before an answer: `code` is the socket's (ECONNREFUSED …), ETIMEDOUT for the deadline,
 * or EMSGSIZE for an answer larger than any the provider sends (`MAX_ANSWER_BYTES`).
 */
export class FormPostError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FormPostError';
  }
}

/**
 * POSTs a urlencoded form over node:http(s) with keep-alive sockets and one deadline for the whole
 * exchange. For one small form per SMS, `fetch` (undici's WHATWG layer: Request, Headers, web
 * streams, an AbortSignal timer with its DOMException) cost several times the exchange itself.
 */
/** SMS.ru's answers are a few hundred bytes: a bigger one is not its API, and is not held in memory. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

export const formPoster = (timeoutMs: number) => {
  // Idle sockets close after a while, so a poster replaced on a settings change leaves none open.
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: 30_000 }),
    'https:': new https.Agent({ keepAlive: true, timeout: 30_000 }),
  };
  return (url: string, form: string, headers: Record<string, string>): Promise<FormAnswer> =>
    new Promise((resolve, reject) => {
      const u = new URL(url);
      const lib = u.protocol === 'https:' ? https : http;
      const agent = u.protocol === 'https:' ? agents['https:'] : agents['http:'];
      let settled = false;
      const fail = (err: FormPostError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      };
      const req = lib.request(
        u,
        { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(form) } },
        (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            if (bytes <= MAX_ANSWER_BYTES) chunks.push(c);
            else {
              fail(new FormPostError(`an answer over ${MAX_ANSWER_BYTES} bytes`, 'EMSGSIZE'));
              req.destroy();
            }
          });
          res.on('error', (e) => fail(new FormPostError(e.message, (e as NodeJS.ErrnoException).code, { cause: e })));
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            const h = res.headers;
            resolve({
              status: res.statusCode ?? 0,
              header: (name) => {
                const v = h[name];
                return Array.isArray(v) ? v[0] : v;
              },
              text: Buffer.concat(chunks).toString('utf8'),
            });
          });
        },
      );
      const timer = setTimeout(() => {
        fail(new FormPostError(`no answer within ${timeoutMs} ms`, 'ETIMEDOUT'));
        req.destroy();
      }, timeoutMs);
      req.on('error', (e) => fail(new FormPostError(e.message, (e as NodeJS.ErrnoException).code, { cause: e })));
      req.end(form);
    });
};

import type { HttpResponse } from '../../core/http/uws.js';
import { HttpProblem } from '../problemDetails.js';

/**
 * One request/response pair on uWS. uWS forbids touching `res` after the client went away, and
 * gives body chunks that are only valid during the callback: this wraps both rules once.
 */
export class Exchange {
  aborted = false;
  done = false;
  /** The whole body was read (or refused and the reader stopped). */
  bodyDone = false;
  private onAbort: (() => void) | undefined;

  constructor(readonly res: HttpResponse) {
    res.onAborted(() => {
      this.aborted = true;
      this.onAbort?.();
    });
  }

  /**
   * The whole body, at most `limit` bytes, within `timeoutMs`. Over the limit: 413; too slow:
   * 408 (the caller answers and closes). Chunks are copied: uWS reuses their memory.
   */
  readBody(limit: number, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.onAbort = undefined;
        fn();
      };
      const timer = setTimeout(
        () => settle(() => reject(new HttpProblem('GW_ERR_REQUEST_TIMEOUT', `the body did not arrive within ${timeoutMs} ms`))),
        timeoutMs,
      );
      this.onAbort = () => settle(() => reject(new ClientGone()));
      this.res.onData((chunk, isLast) => {
        if (settled) return;
        size += chunk.byteLength;
        if (size > limit) {
          settle(() => reject(new HttpProblem('GW_ERR_PAYLOAD_TOO_LARGE', `the body exceeds ${limit} bytes`)));
          return;
        }
        // One copy: slice copies out of uWS's memory, Buffer.from only wraps the copy.
        chunks.push(Buffer.from(chunk.slice(0)));
        if (isLast) this.bodyDone = true;
        if (isLast) settle(() => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
      });
    });
  }

  /**
   * Writes the whole answer in one corked syscall, unless the client is gone or it was answered.
   * A large body goes out as fast as the client reads it (tryEnd + onWritable), so a slow reader
   * of a big document holds one buffer, not a growing copy in uWS's backlog.
   */
  send(status: number, headers: Readonly<Record<string, string>>, body: string | Buffer, close = false): boolean {
    if (this.aborted || this.done) return false;
    this.done = true;
    const bytes = typeof body === 'string' && body.length > LARGE ? Buffer.from(body) : body;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      for (const [k, v] of Object.entries(headers)) this.res.writeHeader(k, v);
      if (typeof bytes === 'string' || bytes.length <= LARGE) {
        this.res.end(bytes, close);
        return;
      }
      const start = this.res.getWriteOffset();
      const [, done] = this.res.tryEnd(bytes, bytes.length);
      if (done) return;
      this.res.onWritable((offset) => {
        if (this.aborted) return true;
        const [ok] = this.res.tryEnd(bytes.subarray(offset - start), bytes.length);
        return ok;
      });
    });
    return true;
  }

  /**
   * Writes the status and headers, then each chunk as the client reads it (a backed-up write
   * waits for onWritable), so a large answer is never held whole. A chunk source that fails after
   * the status went out cannot change it: the connection is closed, so the client sees a cut-off
   * body rather than a complete-looking one. Resolves false when nothing could be written.
   */
  async stream(
    status: number,
    headers: Readonly<Record<string, string>>,
    chunks: AsyncIterable<string | Uint8Array>,
  ): Promise<boolean> {
    if (this.aborted || this.done) return false;
    this.done = true;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      for (const [k, v] of Object.entries(headers)) this.res.writeHeader(k, v);
    });
    try {
      for await (const chunk of chunks) {
        if (this.aborted) return true;
        let ok = true;
        this.res.cork(() => {
          ok = this.res.write(chunk);
        });
        if (!ok) await this.writable();
      }
    } catch (e) {
      if (!this.aborted) this.res.close();
      throw e;
    }
    if (!this.aborted) this.res.cork(() => this.res.end());
    return true;
  }

  private writable(): Promise<void> {
    return new Promise((resolve) => {
      this.onAbort = resolve;
      this.res.onWritable(() => {
        this.onAbort = undefined;
        resolve();
        return true;
      });
    });
  }
}

/** Bodies above this are written with back-pressure. */
const LARGE = 64 * 1024;

/** The client disconnected; nothing is to be answered. */
export class ClientGone extends Error {
  constructor() {
    super('client went away');
    this.name = 'ClientGone';
  }
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};
const statusLine = (status: number) => `${status} ${REASONS[status] ?? ''}`.trimEnd();

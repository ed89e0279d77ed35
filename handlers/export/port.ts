import { HandlerError } from '../../core/runners/handlerError.js';

/** Why an export failed: `code` names it in `export.failed` and the job. */
export class ExportError extends HandlerError<{ code: string }> {
  static permanent(code: string, message: string, cause?: unknown) {
    return new ExportError(message, false, { details: { code }, ...(cause === undefined ? {} : { cause }) });
  }
}

/** Where export files live and how long, how many rows and how many jobs at once. */
export interface ExportSettings {
  dir: string;
  maxRows: number;
  ttlSeconds: number;
  /** Jobs written at once in this process, and per API key. */
  maxConcurrent: number;
  maxPerKey: number;
}

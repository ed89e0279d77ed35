import { HandlerError } from '../../core/runners/handlerError.js';

export type ErpKind = '1c' | 'custom' | 'test';

/** An ERP object in the ERP's own field names; `version` is 1C's DataVersion or the custom ERP's version/updated time. */
export interface ErpObject {
  key: string;
  version: string;
  deleted: boolean;
  fields: Record<string, unknown>;
}

export interface ErpPage {
  objects: ErpObject[];
  /** Where the next page starts (opaque to the sync; committed with the page); absent after the last. */
  next?: string;
}

/**
 * An ERP behind one shape (docs/decisions/0001). `set` is the mapping's entity set or path. There is
 * no idempotency key in either ERP: `findByAttribute` on the gateway key stands in for it.
 * Failures of the whole call throw `ErpError`.
 */
export interface ErpPort {
  readonly kind: ErpKind;
  /**
   * One page from `position` (undefined: the first). `versionsOnly`: keys, versions and deletion
   * marks only (1C `$select`), to find what changed before fetching it whole.
   */
  list(set: string, opts: { position?: string; pageSize: number; versionsOnly?: boolean }): Promise<ErpPage>;
  /** Whole objects by key (absent keys are left out). */
  getMany(set: string, keys: readonly string[]): Promise<ErpObject[]>;
  findByAttribute(set: string, attribute: string, value: string): Promise<ErpObject | undefined>;
  create(set: string, fields: Record<string, unknown>): Promise<ErpObject>;
  /** `ifVersion`: the version last read; another writer's change since → `ErpError` `conflict` (412). */
  update(set: string, key: string, fields: Record<string, unknown>, ifVersion?: string): Promise<ErpObject>;
  /**
   * The record was deleted in the CRM: 1C sets `DeletionMark` (1C never deletes outright through
   * OData; an operator's "delete marked objects" does); the custom ERP gets `DELETE`. An object
   * already gone counts as done.
   */
  markDeleted(set: string, key: string): Promise<void>;
  /** 1C documents: post (conduct) a created document; other ERPs: the object as is. */
  post(set: string, key: string): Promise<ErpObject>;
  /** A cheap authenticated request: throws when the ERP is down or refuses the credentials. */
  health(): Promise<void>;
}

export type ErpErrorCode =
  | 'not_configured'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'invalid'
  | 'internal'
  | 'unavailable'
  | 'timeout';

export interface ErpErrorDetails {
  code: ErpErrorCode;
  /** HTTP status, when the ERP answered. */
  status?: number;
  /** 1C's `odata.error.code` (`-1`: an internal error, details only in 1C's technological log). */
  erpCode?: string;
}

/**
 * A failed ERP call. Retryable: timeouts, 5xx other than 1C's -1 on posting, connection errors.
 * Permanent: 400, 401, 403, 404 (object or entity set not in the OData content), 412 (re-read first).
 */
export class ErpError extends HandlerError<ErpErrorDetails> {
  get code(): ErpErrorCode {
    return this.details?.code ?? 'internal';
  }
  static of(code: ErpErrorCode, message: string, retryable: boolean, more: Omit<ErpErrorDetails, 'code'> = {}, cause?: unknown) {
    return new ErpError(message, retryable, {
      details: { code, ...more },
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** An HTTP status into the error class and whether a retry may help. */
export const classifyStatus = (status: number): { code: ErpErrorCode; retryable: boolean } => {
  if (status === 401) return { code: 'unauthorized', retryable: false };
  if (status === 403) return { code: 'forbidden', retryable: false };
  if (status === 404) return { code: 'not_found', retryable: false };
  if (status === 409 || status === 412) return { code: 'conflict', retryable: false };
  if (status === 408 || status === 429) return { code: 'unavailable', retryable: true };
  if (status >= 500) return { code: status === 500 ? 'internal' : 'unavailable', retryable: true };
  return { code: 'invalid', retryable: false };
};

/** fetch with a timeout that says so (the undici error alone reads as a generic abort). */
export const fetchWithTimeout = async (url: string, init: RequestInit, timeoutMs: number): Promise<Response> => {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const name = (e as Error)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw ErpError.of('timeout', `no answer within ${Math.round(timeoutMs / 1000)} s`, true, {}, e);
    }
    throw ErpError.of('unavailable', `ERP unreachable: ${(e as Error)?.message ?? String(e)}`, true, {}, e);
  }
};

/** The gateway's HTTP API as the simulation uses it: as a CRM would, with an API key. */
export interface GatewayApi {
  /** JSON in, JSON out; a status other than `expect` throws with the problem's code and detail. */
  call<T>(method: string, path: string, body?: unknown, expect?: number[]): Promise<{ status: number; body: T }>;
}

export class GatewayApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export const gatewayApi = (baseUrl: string, key: string): GatewayApi => ({
  async call<T>(method: string, path: string, body?: unknown, expect = [200, 201, 202]) {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    const parsed = (text ? JSON.parse(text) : undefined) as T & { code?: string; detail?: string; title?: string };
    if (!expect.includes(res.status)) {
      const problem = parsed ?? ({} as { code?: string; detail?: string; title?: string });
      throw new GatewayApiError(
        res.status,
        problem.code,
        `${method} ${path}: ${res.status} ${problem.code ?? ''} ${problem.detail ?? problem.title ?? ''}`.trim(),
      );
    }
    return { status: res.status, body: parsed };
  },
});

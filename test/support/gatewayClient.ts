/** The admin side of a running gateway's API: JSON in, status and JSON body out. */
export const adminApi = (base: string, adminKey: string) => {
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** Registers a device and returns its token (shown once). */
  const register = async (id: string) => (await api('POST', '/api/v1/devices', { id })).body.token as string;
  return { api, register };
};

/** Polling of a gateway process (`until` options): every 100 ms for up to 20 s, as it answers in its own time. */
export const gatewayPolling = { timeoutMs: 20_000, intervalMs: 100 } as const;

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

/** Polls `probe` until it returns a value, or fails naming `what`. */
export const until = async <T>(probe: () => Promise<T | undefined>, what: string, ms = 20_000): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

import mqtt, { type MqttClient } from 'mqtt';

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

/** An MQTT 3.1.1 device session (mqtt.js, no reconnects); rejects with the broker's refusal. */
export const connectDevice = (port: number, id: string, token: string, session: { clientId?: string; clean?: boolean } = {}) =>
  new Promise<MqttClient>((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      username: id,
      password: token,
      protocolVersion: 4,
      reconnectPeriod: 0,
      ...session,
    });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
  });

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

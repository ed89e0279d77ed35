import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, verify } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A throwaway service account: a fresh RSA key, written as the JSON file the Firebase console hands out. */
export interface FakeServiceAccount {
  path: string;
  projectId: string;
  clientEmail: string;
  publicKey: KeyObject;
}

export const writeServiceAccount = async (dir: string, projectId = 'fleetgate-demo'): Promise<FakeServiceAccount> => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const clientEmail = `firebase-adminsdk-test@${projectId}.iam.gserviceaccount.com`;
  const path = join(dir, `${projectId}-sa.json`);
  await writeFile(
    path,
    JSON.stringify({
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey,
      client_email: clientEmail,
      client_id: '100000000000000000000',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: 'https://oauth2.googleapis.com/token',
    }),
    { mode: 0o600 },
  );
  return { path, projectId, clientEmail, publicKey: createPublicKey(publicKey) };
};

/** A scripted FCM answer: HTTP status, FCM error code (`details[].errorCode`), and headers. */
export interface FcmFailure {
  status: number;
  errorCode?: string;
  grpcStatus?: string;
  message?: string;
  retryAfter?: string;
}

export interface RecordedSend {
  projectId: string;
  token: string;
  message: Record<string, unknown>;
  messageId: string;
  at: number;
}

export interface FakeFcm {
  port: number;
  /** Accepted messages, in the order FCM answered them. */
  sent: RecordedSend[];
  /** Every `messages:send` request, accepted or not (token, status, time). */
  requests: { token: string | undefined; status: number; at: number }[];
  /** OAuth token requests and whether their JWT assertion verified. */
  tokenRequests: { ok: boolean; reason?: string }[];
  /** The token answers UNREGISTERED (404) from now on, as for an uninstalled app. */
  unregister(token: string): void;
  /** The next `times` sends to this token (any token when omitted) answer with `failure`. */
  failToken(token: string | undefined, failure: FcmFailure, times?: number): void;
  /** An https.Agent that sends every connection, whatever the host, to this fake in plain HTTP. */
  agent(): https.Agent;
  close(): Promise<void>;
}

const GRPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

const fcmError = (res: ServerResponse, f: FcmFailure) => {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=UTF-8' };
  if (f.retryAfter !== undefined) headers['retry-after'] = f.retryAfter;
  res.writeHead(f.status, headers);
  res.end(
    JSON.stringify({
      error: {
        code: f.status,
        message: f.message ?? 'Request failed',
        status: f.grpcStatus ?? GRPC_STATUS[f.status] ?? 'UNKNOWN',
        ...(f.errorCode
          ? { details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: f.errorCode }] }
          : {}),
      },
    }),
  );
};

const b64json = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

/** FCM's own token check: non-empty, no whitespace; real tokens are ~150+ characters of base64url and `:`. */
const plausibleToken = (t: string) => /^[A-Za-z0-9_:\-.]{20,4096}$/.test(t);

/**
 * FCM HTTP v1 and Google's OAuth token endpoint on one loopback port, told apart by the `Host`
 * header as the real hosts are (`oauth2.googleapis.com`, `fcm.googleapis.com`). The token endpoint
 * verifies the service account's RS256 JWT assertion; `messages:send` checks the bearer token, the
 * project, exactly one target and the field types, and answers like FCM (errors with
 * `details[].errorCode`).
 */
export const startFakeFcm = async (account: FakeServiceAccount): Promise<FakeFcm> => {
  const issued = new Set<string>();
  const unregistered = new Set<string>();
  const scripted: { token: string | undefined; failure: FcmFailure; times: number }[] = [];
  const sent: RecordedSend[] = [];
  const requests: FakeFcm['requests'] = [];
  const tokenRequests: FakeFcm['tokenRequests'] = [];

  const oauth = (body: string, res: ServerResponse) => {
    const form = new URLSearchParams(body);
    const refuse = (reason: string) => {
      tokenRequests.push({ ok: false, reason });
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant', error_description: reason }));
    };
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return refuse('Invalid grant_type');
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return refuse('Invalid JWT');
    const [h, p, s] = parts as [string, string, string];
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = b64json(h);
      claims = b64json(p);
    } catch {
      return refuse('Invalid JWT');
    }
    if (header.alg !== 'RS256') return refuse('Invalid JWT: alg');
    if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), account.publicKey, Buffer.from(s, 'base64url'))) {
      return refuse('Invalid JWT Signature.');
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== account.clientEmail) return refuse('Invalid JWT: iss');
    if (claims.aud !== 'https://oauth2.googleapis.com/token') return refuse('Invalid JWT: aud');
    const scopes = String(claims.scope ?? '').split(' ');
    if (!scopes.some((sc) => /auth\/(firebase\.messaging|cloud-platform)$/.test(sc))) return refuse('Invalid JWT: scope');
    if (typeof claims.exp !== 'number' || claims.exp < now || (claims.iat as number) > now + 300) {
      return refuse('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    }
    const accessToken = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    issued.add(accessToken);
    tokenRequests.push({ ok: true });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: accessToken, expires_in: 3599, token_type: 'Bearer' }));
  };

  const send = (req: IncomingMessage, body: string, res: ServerResponse) => {
    const at = Date.now();
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return fcmError(res, { status: 404, message: 'Not Found' });
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!bearer || !issued.has(bearer)) {
      requests.push({ token: undefined, status: 401, at });
      return fcmError(res, {
        status: 401,
        message: 'Request had invalid authentication credentials. Expected OAuth 2 access token.',
      });
    }
    const projectId = decodeURIComponent(m[1] as string);
    if (projectId !== account.projectId) {
      requests.push({ token: undefined, status: 403, at });
      return fcmError(res, {
        status: 403,
        message: `Permission 'cloudmessaging.messages.create' denied on resource '//cloudmessaging.googleapis.com/projects/${projectId}'`,
      });
    }
    let parsed: { message?: Record<string, unknown>; validate_only?: boolean };
    try {
      parsed = JSON.parse(body);
    } catch {
      return fcmError(res, { status: 400, message: 'Invalid JSON payload received.' });
    }
    const message = parsed.message;
    const invalid = (why: string, token?: string) => {
      requests.push({ token, status: 400, at });
      fcmError(res, { status: 400, errorCode: 'INVALID_ARGUMENT', message: why });
    };
    if (!message || typeof message !== 'object') return invalid('Request contains an invalid argument: message is required');
    const targets = ['token', 'topic', 'condition'].filter((k) => message[k] !== undefined);
    if (targets.length !== 1) return invalid('Request contains an invalid argument: exactly one of token, topic, condition');
    const token = message.token as string | undefined;
    const data = message.data as Record<string, unknown> | undefined;
    if (data && Object.values(data).some((v) => typeof v !== 'string')) {
      return invalid("Invalid value at 'message.data': values must be strings", token);
    }
    const n = message.notification as Record<string, unknown> | undefined;
    if (n && ['title', 'body'].some((k) => n[k] !== undefined && typeof n[k] !== 'string')) {
      return invalid("Invalid value at 'message.notification'", token);
    }
    if (token !== undefined && (typeof token !== 'string' || !plausibleToken(token))) {
      return invalid('The registration token is not a valid FCM registration token', token);
    }
    const i = scripted.findIndex((s) => s.token === undefined || s.token === token);
    if (i >= 0) {
      const s = scripted[i] as (typeof scripted)[number];
      if (--s.times <= 0) scripted.splice(i, 1);
      requests.push({ token, status: s.failure.status, at });
      return fcmError(res, s.failure);
    }
    if (token !== undefined && unregistered.has(token)) {
      requests.push({ token, status: 404, at });
      return fcmError(res, { status: 404, errorCode: 'UNREGISTERED', message: 'Requested entity was not found.' });
    }
    const messageId = `projects/${projectId}/messages/0:${Date.now()}${Math.floor(Math.random() * 1000)}%${randomBytes(8).toString('hex')}`;
    requests.push({ token, status: 200, at });
    if (!parsed.validate_only) sent.push({ projectId, token: token ?? '', message, messageId, at });
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify({ name: messageId }));
  };

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host === 'oauth2.googleapis.com' && req.method === 'POST' && req.url === '/token') return oauth(body, res);
    if (host === 'fcm.googleapis.com') return send(req, body, res);
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`no such host here: ${host}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agents: https.Agent[] = [];

  return {
    port,
    sent,
    requests,
    tokenRequests,
    unregister: (token) => void unregistered.add(token),
    failToken: (token, failure, times = 1) => void scripted.push({ token, failure, times }),
    agent() {
      // Node's https client speaks plain HTTP/1.1 over whatever socket the agent hands it (PROVIDERS.md §5).
      const agent = new (class extends https.Agent {
        override createConnection() {
          return net.connect(port, '127.0.0.1');
        }
      })({ keepAlive: true });
      agents.push(agent);
      return agent;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const a of agents) a.destroy();
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
};

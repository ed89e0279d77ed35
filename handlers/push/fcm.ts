import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import https from 'node:https';
import { type App, cert, deleteApp, initializeApp } from 'firebase-admin/app';
import { getMessaging, type MulticastMessage } from 'firebase-admin/messaging';
import { GatewayError } from '../../schemas/errors.js';
import type { PushMessage, PushSender, TokenSendResult } from './port.js';

/** FCM's limit for one sendEachForMulticast call. */
const MULTICAST_MAX = 500;

export type FcmOptions = (
  | {
      /** FCM_SERVICE_ACCOUNT: the service-account JSON file downloaded from the Firebase console. */
      serviceAccountPath: string;
    }
  | {
      /** The same JSON from the run-time settings (stored encrypted, never written to disk). */
      serviceAccountJson: string;
    }
) & {
  /**
   * Carries both the OAuth token request and the FCM calls. Tests pass one that connects to a
   * local fake; by default a keep-alive HTTPS agent.
   */
  httpAgent?: Agent;
};

interface ServiceAccountFile {
  project_id: string;
  client_email: string;
  private_key: string;
}

/**
 * Reads the file once to fail at start-up with a message that names what is wrong. Our own
 * messages: a JSON parse error would quote part of the file, which holds the private key.
 */
export const readServiceAccount = (path: string): ServiceAccountFile => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new GatewayError('GW_ERR_CONFIG', `FCM_SERVICE_ACCOUNT: cannot read ${path} (${(e as NodeJS.ErrnoException).code})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new GatewayError('GW_ERR_CONFIG', `FCM_SERVICE_ACCOUNT: ${path} is not JSON`);
  }
  const o = (json ?? {}) as Record<string, unknown>;
  const missing = ['project_id', 'client_email', 'private_key'].filter((k) => typeof o[k] !== 'string' || o[k] === '');
  if (missing.length > 0) {
    throw new GatewayError(
      'GW_ERR_CONFIG',
      `FCM_SERVICE_ACCOUNT: ${path} lacks ${missing.join(', ')} (a service-account key file?)`,
    );
  }
  return o as unknown as ServiceAccountFile;
};

let apps = 0;

const toMulticast = (tokens: string[], m: PushMessage): MulticastMessage => ({
  tokens,
  notification: { title: m.title, body: m.body },
  ...(m.data ? { data: m.data } : {}),
  android: { priority: m.urgent ? 'high' : 'normal', notification: { tag: m.collapseId } },
  apns: { headers: { 'apns-priority': m.urgent ? '10' : '5', 'apns-collapse-id': m.collapseId } },
  webpush: { notification: { tag: m.collapseId } },
});

/**
 * FCM HTTP v1 through firebase-admin: the service account's JWT is exchanged for an OAuth token
 * (cached and refreshed by google-auth-library), then one `messages:send` per token.
 *
 * sendEach runs on firebase-admin's HTTP/1.1 transport (`enableLegacyHttpTransport`) with our
 * keep-alive agent: only that transport honours `httpAgent`, so the path exercised against the
 * fake is the one used live; the SDK itself marks its HTTP/2 transport as not yet as stable.
 */
export const fcmPushSender = (opts: FcmOptions): PushSender => {
  const sa =
    'serviceAccountPath' in opts
      ? readServiceAccount(opts.serviceAccountPath)
      : (JSON.parse(opts.serviceAccountJson) as ServiceAccountFile);
  const agent = opts.httpAgent ?? new https.Agent({ keepAlive: true, maxSockets: 64 });
  let app: App;
  try {
    // The path variant of cert() is the one that sends the token request through the agent.
    app = initializeApp(
      {
        credential: cert(
          'serviceAccountPath' in opts
            ? opts.serviceAccountPath
            : { projectId: sa.project_id, clientEmail: sa.client_email, privateKey: sa.private_key },
          agent,
        ),
        projectId: sa.project_id,
        httpAgent: agent,
      },
      `fleetgate-fcm-${++apps}`,
    );
  } catch (e) {
    throw new GatewayError('GW_ERR_CONFIG', `FCM_SERVICE_ACCOUNT: ${(e as Error).message}`, { cause: e });
  }
  const messaging = getMessaging(app);
  messaging.enableLegacyHttpTransport();

  return {
    testMode: false,
    projectId: sa.project_id,
    async sendToTokens(tokens, message) {
      const out: TokenSendResult[] = [];
      for (let i = 0; i < tokens.length; i += MULTICAST_MAX) {
        const chunk = tokens.slice(i, i + MULTICAST_MAX);
        try {
          const batch = await messaging.sendEachForMulticast(toMulticast(chunk, message));
          batch.responses.forEach((r, j) => {
            const token = chunk[j] as string;
            out.push(
              r.success && r.messageId
                ? { token, messageId: r.messageId }
                : {
                    token,
                    error: { code: r.error?.code ?? 'messaging/unknown-error', message: r.error?.message ?? 'no message id' },
                  },
            );
          });
        } catch (e) {
          // The whole call failed (e.g. the message did not validate): every token of it did.
          const err = e as { code?: string; message?: string };
          const error = { code: err.code ?? 'app/unknown-error', message: err.message ?? String(e) };
          for (const token of chunk) out.push({ token, error });
        }
      }
      return out;
    },
    async close() {
      await deleteApp(app);
      if (!opts.httpAgent) agent.destroy();
    },
  };
};

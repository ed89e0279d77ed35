/**
 * The client's address: the socket's peer, or with TRUST_PROXY the first `X-Forwarded-For` entry
 * (the proxy in front terminates TLS and connects from its own address). Per-address limits key on it.
 */
export const clientAddress = (trustProxy: boolean, remote: string, forwardedFor: string | undefined): string => {
  if (!trustProxy) return remote;
  return forwardedFor?.split(',')[0]?.trim() || remote;
};

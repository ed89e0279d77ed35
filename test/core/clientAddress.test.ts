import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { clientAddressResolver, parseTrustProxy } from '../../core/http/clientAddress.js';

const resolve = (trustProxy: string) => {
  const trust = parseTrustProxy(trustProxy);
  if (typeof trust === 'string') throw new Error(trust);
  return clientAddressResolver(trust);
};

describe('TRUST_PROXY and the client address', () => {
  it('reads false, true, a hop count and an address list; refuses anything else at start-up', () => {
    expect(['false', 'off', '0', 'true', 'YES', '1', '2'].map(parseTrustProxy)).toEqual([
      { hops: 0 },
      { hops: 0 },
      { hops: 0 },
      { hops: 1 },
      { hops: 1 },
      { hops: 1 },
      { hops: 2 },
    ]);
    expect(parseTrustProxy(' 10.0.0.0/8, 192.168.1.5 ,fd00::/8')).toEqual({
      addresses: ['10.0.0.0/8', '192.168.1.5', 'fd00::/8'],
    });
    expect(parseTrustProxy('10.0.0.0/33')).toMatch(/not an address/);
    expect(loadConfig({}).api.trustProxy).toEqual({ hops: 0 });
    expect(loadConfig({ TRUST_PROXY: 'true' }).api.trustProxy).toEqual({ hops: 1 });
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY="proxy.internal": "proxy.internal" is not/);
  });

  it('without TRUST_PROXY takes the socket peer and ignores the header', () => {
    expect(resolve('false')('203.0.113.9', '198.51.100.7')).toBe('203.0.113.9');
  });

  it('with one trusted hop takes the entry the proxy wrote, not the ones the client wrote before it', () => {
    const addressOf = resolve('true');
    // The proxy appends the address it was connected from; anything to its left came from the client.
    expect(addressOf('127.0.0.1', '198.51.100.7')).toBe('198.51.100.7');
    expect(addressOf('127.0.0.1', '1.1.1.1, 2.2.2.2, 198.51.100.7')).toBe('198.51.100.7');
    expect(addressOf('127.0.0.1', 'not-an-ip, 198.51.100.7')).toBe('198.51.100.7');
    expect(addressOf('127.0.0.1', undefined)).toBe('127.0.0.1');
    // A proxy that writes a port, and one that writes garbage: never a client-chosen string.
    expect(addressOf('127.0.0.1', '1.1.1.1, 198.51.100.7:51234')).toBe('198.51.100.7');
    expect(addressOf('127.0.0.1', '[2001:db8::7]:443')).toBe('2001:db8::7');
    expect(addressOf('127.0.0.1', 'garbage')).toBe('127.0.0.1');
  });

  it('with a hop count skips exactly that many proxies from the right', () => {
    const addressOf = resolve('2');
    expect(addressOf('127.0.0.1', '6.6.6.6, 198.51.100.7, 10.9.9.9')).toBe('198.51.100.7');
    // Fewer entries than hops: the leftmost (the chain is shorter than configured).
    expect(addressOf('127.0.0.1', '198.51.100.7')).toBe('198.51.100.7');
  });

  it('with address ranges walks left past trusted proxies to the first untrusted address', () => {
    const addressOf = resolve('127.0.0.1,10.0.0.0/8,fd00::/8');
    expect(addressOf('127.0.0.1', '6.6.6.6, 198.51.100.7, 10.1.2.3, 10.9.9.9')).toBe('198.51.100.7');
    expect(addressOf('::ffff:127.0.0.1', '6.6.6.6, 198.51.100.7, fd00::1')).toBe('198.51.100.7');
    // A forged "trusted" entry left of an untrusted one is never reached.
    expect(addressOf('127.0.0.1', '10.0.0.1, 198.51.100.7')).toBe('198.51.100.7');
    // The peer is not a trusted proxy: its header is the client's own word, and ignored.
    expect(addressOf('203.0.113.9', '198.51.100.7')).toBe('203.0.113.9');
  });
});

import ipaddr from 'ipaddr.js';

/**
 * Which hops in front of the gateway may say who the client is (`TRUST_PROXY`): none, the nearest
 * `hops` proxies, or proxies at these addresses / CIDR ranges.
 */
export type TrustedProxies = { hops: number } | { addresses: readonly string[] };

const BOOLEAN_WORDS: Record<string, number> = { false: 0, no: 0, off: 0, true: 1, yes: 1, on: 1 };
const HOPS = /^\d{1,2}$/;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

const parseRange = (entry: string): Range | undefined => {
  try {
    if (entry.includes('/')) return ipaddr.parseCIDR(entry);
    const addr = ipaddr.parse(entry);
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
};

/**
 * `TRUST_PROXY` as written: `false`, `true` (one hop: the usual single reverse proxy), a hop
 * count, or a comma-separated list of proxy addresses and CIDR ranges. A string says what is wrong.
 */
export const parseTrustProxy = (raw: string): TrustedProxies | string => {
  const value = raw.trim().toLowerCase();
  const word = BOOLEAN_WORDS[value];
  if (word !== undefined) return { hops: word };
  if (HOPS.test(value)) return { hops: Number(value) };
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = entries.find((e) => parseRange(e) === undefined);
  if (entries.length === 0 || bad !== undefined) return `"${bad ?? raw}" is not an address or CIDR range`;
  return { addresses: entries };
};

/** `1.2.3.4:5678` and `[::1]:80` as some proxies write them; a bare address unchanged. */
const withoutPort = (entry: string): string => {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed) return bracketed[1] as string;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4 ? (v4[1] as string) : entry;
};

/**
 * The client's address as `(socket peer, X-Forwarded-For)` → address. Each proxy appends the
 * address it was connected from, so the list is read from the right: the socket peer and the
 * entries written by trusted proxies are skipped, the first address a trusted proxy vouches for
 * but is not itself trusted is the client. Entries further left were written by the client and
 * are never read (issue 23: the leftmost entry let anyone choose their rate-limit bucket). When
 * every hop is trusted the leftmost is the client; an entry that is not an address ends the walk
 * at the hop that wrote it.
 */
export const clientAddressResolver = (trust: TrustedProxies) => {
  if ('hops' in trust && trust.hops === 0) return (remote: string, _forwardedFor?: string): string => remote;
  const ranges = 'addresses' in trust ? trust.addresses.map((a) => parseRange(a) as Range) : [];
  const trusted =
    'hops' in trust
      ? (_address: string, hop: number) => hop < trust.hops
      : (address: string) => {
          const addr = ipaddr.process(address);
          return ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
        };
  return (remote: string, forwardedFor: string | undefined): string => {
    if (!forwardedFor || !ipaddr.isValid(remote) || !trusted(remote, 0)) return remote;
    const chain = forwardedFor.split(',');
    let client = remote;
    for (let i = chain.length - 1, hop = 1; i >= 0; i--, hop++) {
      const entry = withoutPort((chain[i] as string).trim());
      if (!ipaddr.isValid(entry)) return client;
      client = entry;
      if (!trusted(entry, hop)) return client;
    }
    return client;
  };
};
export type ClientAddress = ReturnType<typeof clientAddressResolver>;

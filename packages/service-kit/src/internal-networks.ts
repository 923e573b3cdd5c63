import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

/**
 * Where internal routes (`{prefix}/metrics`, `{prefix}/internal/…`) may be called from by
 * default: loopback, the RFC 1918 private ranges and IPv6 unique-local addresses — inside
 * the deployment (a Compose network, a cluster's pod network, this machine).
 */
export const DEFAULT_INTERNAL_NETWORKS: readonly string[] = Object.freeze([
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
]);

/** Headers a proxy (nginx) adds: a request carrying one came from outside, through the edge. */
const PROXY_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;

/** `10.0.0.0/8`, `fc00::/7` or a bare address → its parts; undefined when it is not one. */
export function parseCidr(
  text: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: max, family };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { address, prefix: Number(prefixText), family };
}

/**
 * Decides whether a request may reach an internal route: it must come straight from a peer
 * inside one of the networks (the socket's address, never a forwarded one) and carry none
 * of the headers a proxy adds — nginx's own address is inside the deployment too, so a
 * request it relays from the internet would otherwise pass.
 */
export class InternalNetworks {
  readonly #list = new BlockList();
  readonly cidrs: readonly string[];

  /** `cidrs`: addresses or CIDRs; throws on one that is neither. */
  constructor(cidrs: readonly string[] = DEFAULT_INTERNAL_NETWORKS) {
    for (const cidr of cidrs) {
      const parsed = parseCidr(cidr);
      if (!parsed) throw new Error(`not an address or CIDR: "${cidr}"`);
      this.#list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    this.cidrs = Object.freeze([...cidrs]);
  }

  /** Whether `address` (as a socket reports it, IPv4-mapped IPv6 included) is inside. */
  contains(address: string | undefined): boolean {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    const version = isIP(plain);
    if (version === 0) return false;
    return this.#list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }

  /** Whether a request from `remoteAddress` with `headers` may reach an internal route. */
  admits(remoteAddress: string | undefined, headers: IncomingHttpHeaders): boolean {
    if (PROXY_HEADERS.some((name) => headers[name] !== undefined)) return false;
    return this.contains(remoteAddress);
  }
}

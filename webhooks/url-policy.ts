/**
 * Which webhook URLs we will call (SSRF rules). A merchant-supplied URL must never make us reach
 * our own network: loopback, private ranges, link-local (the cloud metadata service at
 * 169.254.169.254), carrier-grade NAT, multicast and reserved ranges are refused in production,
 * whether written as an IP literal or behind a hostname. The check runs at registration and again
 * at every delivery, on the address the connection actually uses (webhooks/http-sender.ts), so a
 * name that resolved to a public address at registration and to 127.0.0.1 later (DNS rebinding)
 * is refused then.
 *
 * `development` additionally allows loopback (http or https), so a local receiver on 127.0.0.1
 * works; everything else is as in production.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';

export type WebhookUrlPolicy = 'production' | 'development';

export const WEBHOOK_URL_MAX_LENGTH = 2_048;

const blocked = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(prefix, bits, 'ipv4');
}
for (const [prefix, bits] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(prefix, bits, 'ipv6');
}

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, `::ffff:a00:1`) is judged as IPv4. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(?:0:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return { address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 'ipv4' };
  }
  const dotted = /^::ffff:(?:0:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return { address: dotted[1]!, family: 'ipv4' };
  return { address, family: net.isIPv6(address) ? 'ipv6' : 'ipv4' };
}

function isLoopback(rawAddress: string): boolean {
  const { address, family } = normalise(rawAddress);
  return net.isIP(address) !== 0 && loopback.check(address, family);
}

/** Why an address may not be called under the policy, or undefined when it may. */
export function refusedAddress(rawAddress: string, policy: WebhookUrlPolicy): string | undefined {
  const { address, family } = normalise(rawAddress.replace(/^\[|\]$/g, ''));
  if (net.isIP(address) === 0) return `${rawAddress} is not an IP address`;
  if (policy === 'development' && loopback.check(address, family)) return undefined;
  if (blocked.check(address, family)) return `${rawAddress} is a private, loopback, link-local or reserved address`;
  return undefined;
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; detail: string };

/** The checks that need no DNS: scheme, credentials, length, port, hostnames that are local by name, IP literals. */
export function checkWebhookUrlSyntax(raw: string, policy: WebhookUrlPolicy): UrlCheck {
  if (raw.length > WEBHOOK_URL_MAX_LENGTH) return { ok: false, detail: `must be at most ${WEBHOOK_URL_MAX_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, detail: 'must be an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, detail: 'must be an https URL' };
  if (url.username !== '' || url.password !== '') return { ok: false, detail: 'must not contain credentials' };
  if (url.hash !== '') return { ok: false, detail: 'must not contain a fragment' };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const isLiteral = net.isIP(host) !== 0;
  // Names that are local by construction never leave our network; single-label names resolve through search domains.
  const localName = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/i.test(host) || (!isLiteral && !host.includes('.'));
  const isLoopbackTarget = isLiteral ? isLoopback(host) : /^localhost$/i.test(host);
  if (url.protocol === 'http:' && !(policy === 'development' && isLoopbackTarget)) {
    return { ok: false, detail: policy === 'production' ? 'must be an https URL' : 'must be an https URL (http is accepted only for loopback in development)' };
  }
  if (isLiteral) {
    const refused = refusedAddress(host, policy);
    if (refused) return { ok: false, detail: `must not point to a private, loopback, link-local or metadata address (${host})` };
  } else if (localName && !(policy === 'development' && isLoopbackTarget)) {
    return { ok: false, detail: `must use a public host name (${host} is local)` };
  }
  return { ok: true, url };
}

/** Every address a host name resolves to. */
export type Resolver = (hostname: string) => Promise<string[]>;
export const systemResolver: Resolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The full check at registration: the syntax rules, then every address the host resolves to
 * (one private address is enough to refuse: the receiver's resolver would pick any of them).
 */
export async function validateWebhookUrl(raw: string, policy: WebhookUrlPolicy, resolve: Resolver = systemResolver): Promise<UrlCheck> {
  const syntax = checkWebhookUrlSyntax(raw, policy);
  if (!syntax.ok) return syntax;
  const host = syntax.url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) !== 0) return syntax;
  let addresses: string[];
  try {
    addresses = await resolve(host);
  } catch {
    return { ok: false, detail: `the host ${host} could not be resolved` };
  }
  if (addresses.length === 0) return { ok: false, detail: `the host ${host} could not be resolved` };
  const refused = addresses.find((a) => refusedAddress(a, policy) !== undefined);
  if (refused) return { ok: false, detail: `must not resolve to a private, loopback, link-local or metadata address (${host} resolves to ${refused})` };
  return syntax;
}

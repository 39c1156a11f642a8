/**
 * Loopback redirect URIs (RFC 8252 §7.3, §8.3): plain http to the loopback interface, whose port a
 * native app picks when it starts. The one place that says which hosts these are, for registration
 * (http allowed), the authorization endpoint (any port) and the consent page (the warning).
 *
 * The host is read as written, the scheme and host case-insensitively (RFC 3986 §3.1, §3.2.2), not
 * through a URL parser, which takes 127.1 or 0x7f.0.0.1 for 127.0.0.1: what may be registered over
 * http is exactly what the port-free comparison recognises.
 */
const LOOPBACK_HOSTS = ['127.0.0.1', '[::1]', 'localhost'] as const;

/** "127.0.0.1, [::1] or localhost", for messages and hints. */
export const LOOPBACK_HOSTS_IN_WORDS = `${LOOPBACK_HOSTS.slice(0, -1).join(', ')} or ${LOOPBACK_HOSTS.at(-1)}`;

const escaped = LOOPBACK_HOSTS.map((host) => host.replace(/[.[\]]/g, '\\$&')).join('|');
// The scheme and host, an optional port (RFC 3986 §3.2.3: it may be empty), then the rest from the path on.
const LOOPBACK = new RegExp(`^(http://(?:${escaped}))(?::\\d{0,5})?(?=[/?]|$)(.*)$`, 'i');

/** Whether a redirect URI is a loopback one: http to one of LOOPBACK_HOSTS, on any port. */
export function isLoopbackUri(uri: string): boolean {
  return LOOPBACK.test(uri);
}

/** RFC 8252 §7.3: a loopback URI without its port, so two may be compared whatever the port; null for any other URI. */
export function withoutLoopbackPort(uri: string): string | null {
  const match = LOOPBACK.exec(uri);
  return match ? `${match[1]}${match[2]}` : null;
}

/**
 * RFC 3986 §3.3 dot segments: whether the path of an absolute URI, as
 * written, has a `.` or `..` segment, raw or percent-encoded (`%2e`). URL
 * parsers resolve them away (and treat `\` as `/` in http URLs), so a URI
 * compared after parsing could name another path than it reads as.
 */
export function hasDotSegment(uri: string): boolean {
  const path = uri.replace(/^[a-z][a-z0-9+.-]*:(?:[/\\]{2}[^/\\?#]*)?/i, '').split(/[?#]/)[0] ?? '';
  return path.split(/[/\\]/).some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment));
}

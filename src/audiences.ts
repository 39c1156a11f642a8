import { API_BASE, MCP_PATH, PATHS } from './paths.js';
import { hasDotSegment } from './uri-syntax.js';

/**
 * Serika's protected resources (SPEC §8), the one list: RFC 8707 resource
 * indicators, token audiences, the bearer guard, RFC 9728 metadata and the
 * consent page all read it. An audience is kept as resource paths relative
 * to PUBLIC_URL, so it survives a change of public address; "/" is the
 * origin, which covers every resource (a token asked without `resource`).
 */
export const RESOURCES = {
  [API_BASE]: { name: 'Serika API', documentation: '/docs' },
  [MCP_PATH]: { name: 'Serika MCP server', documentation: '/docs' },
} as const satisfies Record<string, { name: string; documentation: string }>;

export const ORIGIN = '/';
export type ResourcePath = keyof typeof RESOURCES;
export type Audience = string[];
export const RESOURCE_PATHS = Object.keys(RESOURCES) as ResourcePath[];
export const EVERY_RESOURCE: Audience = [ORIGIN];

export class InvalidTarget extends Error {}

/**
 * RFC 8707 §2: an absolute URI without a fragment naming one of our
 * resources; a trailing slash is ignored, scheme and host compare as URLs
 * do (case-insensitively), the path exactly. Returns the resource's path.
 */
function resourcePathOf(indicator: string, publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(indicator);
  } catch {
    throw new InvalidTarget('resource must be an absolute URI.');
  }
  if (indicator.includes('#')) throw new InvalidTarget('resource must not have a fragment (RFC 8707 §2).');
  // The URL parser would resolve them, so `/api/openai/v1/../../mcp` would name a resource it does not read as.
  if (hasDotSegment(indicator)) throw new InvalidTarget('resource must not contain . or .. path segments (RFC 3986 §3.3).');
  if (url.search || url.username || url.password) throw new InvalidTarget(`resource ${indicator.slice(0, 200)} is not a resource Serika serves.`);
  if (url.origin !== new URL(publicUrl).origin) throw new InvalidTarget(`resource ${indicator.slice(0, 200)} is not served by this authorization server (${publicUrl}).`);
  const path = url.pathname.replace(/\/+$/, '') || ORIGIN;
  if (path !== ORIGIN && !Object.hasOwn(RESOURCES, path)) {
    throw new InvalidTarget(`resource ${indicator.slice(0, 200)} is not a resource Serika serves; use ${[publicUrl, ...RESOURCE_PATHS.map((p) => publicUrl + p)].join(', ')}.`);
  }
  return path;
}

/** The audience the indicators ask for, or undefined when none was sent. The origin absorbs the rest. */
export function requestedAudience(indicators: string[], publicUrl: string): Audience | undefined {
  if (indicators.length === 0) return undefined;
  return normalizeAudience(indicators.map((i) => resourcePathOf(i, publicUrl)));
}

function normalizeAudience(paths: string[]): Audience {
  const unique = [...new Set(paths)];
  return unique.includes(ORIGIN) ? [ORIGIN] : unique.sort();
}

/** Whether a token of this audience may be used at the resource (SPEC §8). */
export function audienceCovers(audience: Audience, resource: string): boolean {
  return audience.includes(ORIGIN) || audience.includes(resource);
}

/** RFC 8707 §2.2: at the token endpoint a resource may narrow the audience, never widen it. */
export function audienceWithin(requested: Audience, granted: Audience): boolean {
  return requested.every((path) => audienceCovers(granted, path));
}

export function audienceUnion(a: Audience, b: Audience): Audience {
  return normalizeAudience([...a, ...b]);
}

/** Stored as space-separated paths; null (rows older than resource indicators) is the origin. */
export function parseAudience(stored: string | null | undefined): Audience {
  return stored ? stored.split(' ') : EVERY_RESOURCE;
}

export function formatAudience(audience: Audience): string {
  return normalizeAudience(audience).join(' ');
}

/** The absolute resource identifiers, as `aud` shows them (RFC 7662 §2.2). */
export function audienceUris(audience: Audience, publicUrl: string): string[] {
  return audience.map((path) => (path === ORIGIN ? publicUrl : publicUrl + path));
}

/** What the consent page says the app will reach. */
export function audienceNames(audience: Audience): string[] {
  if (audience.includes(ORIGIN)) return RESOURCE_PATHS.map((p) => RESOURCES[p].name);
  return audience.map((p) => (Object.hasOwn(RESOURCES, p) ? RESOURCES[p as ResourcePath].name : p));
}

/** RFC 9728 §3.1: the metadata URL of a resource is the well-known prefix followed by the resource's path. */
function resourceMetadataUrl(publicUrl: string, path: string): string {
  return publicUrl + PATHS.protectedResourceMetadata + (path === ORIGIN ? '' : path);
}

/** A protected resource as the bearer guard and the metadata need it. */
export interface ProtectedResource {
  path: string;
  /** PUBLIC_URL, the issuer (for errors that point elsewhere on Serika). */
  publicUrl: string;
  /** Its identifier (RFC 8707 / RFC 9728 `resource`). */
  uri: string;
  metadataUrl: string;
}

export function protectedResource(publicUrl: string, path: string): ProtectedResource {
  return { path, publicUrl, uri: path === ORIGIN ? publicUrl : publicUrl + path, metadataUrl: resourceMetadataUrl(publicUrl, path) };
}

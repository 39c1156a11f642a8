import { describe, expect, it } from 'vitest';
import { InvalidTarget, audienceCovers, audienceUris, audienceWithin, parseAudience, requestedAudience } from '../src/audiences.js';

const ISSUER = 'https://auth.example.com';

describe('resource indicators (RFC 8707, SPEC §8)', () => {
  it('reads the API, the MCP server and the origin, a trailing slash ignored, host case-insensitively', () => {
    expect(requestedAudience([], ISSUER)).toBeUndefined();
    expect(requestedAudience([`${ISSUER}/api/openai/v1`], ISSUER)).toEqual(['/api/openai/v1']);
    expect(requestedAudience([`${ISSUER}/api/openai/v1/`], ISSUER)).toEqual(['/api/openai/v1']);
    expect(requestedAudience(['https://AUTH.example.com/mcp'], ISSUER)).toEqual(['/mcp']);
    expect(requestedAudience([`${ISSUER}/mcp`, `${ISSUER}/api/openai/v1`], ISSUER)).toEqual(['/api/openai/v1', '/mcp']);
    expect(requestedAudience([ISSUER], ISSUER)).toEqual(['/']);
    expect(requestedAudience([`${ISSUER}/`, `${ISSUER}/mcp`], ISSUER)).toEqual(['/']);
  });

  it.each([
    'mcp',
    '/mcp',
    `${ISSUER}/mcp#x`,
    `${ISSUER}/mcp?x=1`,
    `${ISSUER}/other`,
    `${ISSUER}/MCP`,
    'https://evil.example.com/mcp',
    'http://auth.example.com/mcp',
    'https://auth.example.com:8443/mcp',
    'https://user@auth.example.com/mcp',
    // RFC 3986 §3.3 dot segments, which a URL parser would resolve to /mcp.
    `${ISSUER}/api/openai/v1/../../../mcp`,
    `${ISSUER}/./mcp`,
    `${ISSUER}/mcp/.`,
    `${ISSUER}/x/%2E%2e/mcp`,
    `${ISSUER}/x\\..\\mcp`,
  ])('refuses %s as invalid_target', (indicator) => {
    expect(() => requestedAudience([indicator], ISSUER)).toThrow(InvalidTarget);
  });

  it('the origin covers every resource; narrowing only', () => {
    expect(audienceCovers(['/'], '/mcp')).toBe(true);
    expect(audienceCovers(['/mcp'], '/api/openai/v1')).toBe(false);
    expect(audienceWithin(['/mcp'], ['/'])).toBe(true);
    expect(audienceWithin(['/'], ['/mcp'])).toBe(false);
    expect(audienceWithin(['/mcp', '/api/openai/v1'], ['/mcp'])).toBe(false);
    expect(parseAudience(null)).toEqual(['/']);
    expect(audienceUris(['/api/openai/v1', '/mcp'], ISSUER)).toEqual([`${ISSUER}/api/openai/v1`, `${ISSUER}/mcp`]);
  });
});

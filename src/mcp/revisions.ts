import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';

/**
 * Every MCP revision /mcp serves: 2026-07-28 through the SDK's handler, and
 * the SDK's 2025-era list (initialize negotiation) stateless. SPEC §8:
 * server/discover and version errors name them all, newest first.
 */
export const SERVED_REVISIONS: readonly string[] = ['2026-07-28', ...SUPPORTED_PROTOCOL_VERSIONS];

interface Discovering {
  _ondiscover(): { supportedVersions: string[] } & Record<string, unknown>;
}

/**
 * The SDK's server/discover lists the 2026-era revisions only (2025 ones are
 * negotiated by initialize); a client probing with server/discover learns of
 * every revision here instead. The SDK offers no option for it, so the
 * instance's answer is wrapped (pinned by test/mcp/mcp-server.test.ts).
 */
export function discoverEveryRevision(server: object): void {
  const inner = server as Discovering;
  const discover = inner._ondiscover.bind(inner);
  inner._ondiscover = () => ({ ...discover(), supportedVersions: [...SERVED_REVISIONS] });
}

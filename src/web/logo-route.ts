import type { FastifyInstance } from 'fastify';
import type { ClientLogos } from '../clients/logos.js';
import { CLIENT_LOGO } from '../paths.js';
import { sendErrorPage } from './page-errors.js';

/**
 * GET /clients/:clientId/logo (SPEC §12): the logo Serika fetched for a
 * client, from its own origin, as the type its bytes were judged to be. The
 * URL carries the fetch's version (logoPath), so it may be cached a day; the
 * headers keep a browser from ever reading it as anything but that image.
 */
export async function logoRoute(scope: FastifyInstance, logos: ClientLogos): Promise<void> {
  scope.get<{ Params: { clientId: string } }>(CLIENT_LOGO, { schema: { hide: true } }, async (request, reply) => {
    const logo = await logos.get(request.params.clientId);
    if (!logo) return sendErrorPage(reply, 404, 'not_found', 'This app has no logo.');
    return reply
      .code(200)
      .header('content-type', logo.contentType)
      .header('content-length', logo.bytes.length)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
      .header('cross-origin-resource-policy', 'same-origin')
      .header('cache-control', 'public, max-age=86400')
      .send(logo.bytes);
  });
}

import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { requireApiKey } from './accounts/api-keys/guard.js';
import { clientRoutes } from './clients/routes.js';
import { AppError } from './errors.js';
import { registerDocs } from './http/docs.js';
import { registerHealth } from './http/health.js';
import { registerJsonBody } from './http/json-body.js';
import { loggerOptions, requestId } from './http/logging.js';
import { registerMetrics } from './http/metrics.js';
import { sendOpenAIError } from './http/openai-errors.js';
import { API_BASE } from './paths.js';
import type { Services } from './services.js';

export interface BuildOptions {
  /** Where JSON log lines go; stdout by default. */
  logStream?: DestinationStream;
}

/** Builds the Fastify app; listening is server.ts's job, so tests can use inject() or port 0. */
export async function buildApp(services: Services, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const logger = loggerOptions(config.logLevel);
  const app = Fastify({
    logger: options.logStream ? { ...logger, stream: options.logStream } : logger,
    genReqId: requestId,
    // Long enough for any ID we mint with room to spare, so an overlong one is a 404, not a 414.
    routerOptions: { maxParamLength: 500 },
    ajv: {
      // Strict validation: unknown fields are an error (SPEC §3), never silently dropped,
      // and a number is never coerced into a string.
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false },
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
  });
  registerJsonBody(app);
  app.setErrorHandler(sendOpenAIError);
  app.setNotFoundHandler((request, reply) =>
    sendOpenAIError(new AppError('not_found', `Unknown route: ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}.`), request, reply),
  );

  await registerDocs(app, () => config.publicUrl);
  registerMetrics(app, config.metricsToken);
  registerHealth(app, services.storage);

  await app.register(
    async (api) => {
      requireApiKey(api, services.apiKeys);
      await clientRoutes(api, services.clients);
    },
    { prefix: API_BASE },
  );

  return app;
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayResult } from './results.js';

/** Aborted when the app goes away before its answer is complete: a buffered call ends its upstream call; a stream is read on for its usage (relay.ts). */
export function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  request.raw.on('aborted', () => controller.abort());
  return controller.signal;
}

/** Writes what the gateway decided: JSON as the upstream sent it, an OpenAI-style error, or server-sent events. */
export function sendGatewayResult(reply: FastifyReply, result: GatewayResult): FastifyReply {
  if (result.headers) reply.headers(result.headers);
  switch (result.kind) {
    case 'json':
      return reply.code(result.status).type('application/json; charset=utf-8').send(result.body);
    case 'error':
      return reply.code(result.status).send(result.body);
    case 'stream':
      return reply
        .code(200)
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .send(result.events);
  }
}

import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { PATHS } from '../paths.js';

/** A hop count: trust that many proxies nearest the server (proxy-addr's meaning of a number). */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

/** TRUST_PROXY as Fastify's trustProxy option. */
export function fastifyTrustProxy(setting: boolean | number | string): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof setting === 'number' ? trustHops(setting) : setting;
}

// Probes and scrapes come straight from the balancer or Prometheus, past every proxy.
const DIRECT = new Set<string>([PATHS.healthz, PATHS.readyz, PATHS.metrics]);

/**
 * TRUST_PROXY that believes more hops than can be there lets a client choose
 * the address Serika sees (per-IP limits, logs). `true` believes every hop:
 * said at start. A hop count is checked against the first request (probes
 * aside) and its X-Forwarded-For: fewer entries than the count, or none, is
 * said once. The listener then removes itself, so later requests pay nothing.
 */
export function warnOfUnseenProxies(app: FastifyInstance, setting: boolean | number | string): void {
  if (setting === true) {
    app.log.warn(
      'TRUST_PROXY=true believes every X-Forwarded-For entry: any client that reaches Serika can choose the address its rate limits and logs see. Set the number of proxies in front of Serika, or their addresses (docs/deploying.md)',
    );
    return;
  }
  if (typeof setting !== 'number') return;
  const server = app.server;
  const check = (request: IncomingMessage) => {
    if (DIRECT.has((request.url ?? '').split('?')[0] ?? '')) return;
    server.off('request', check);
    const forwarded = request.headers['x-forwarded-for'];
    const entries = forwarded ? String(forwarded).split(',').length : 0;
    if (entries >= setting) return;
    app.log.warn(
      { trustProxy: setting, forwardedFor: entries },
      `TRUST_PROXY=${setting} believes ${setting} proxies in front of Serika, but the first request came with ${entries} X-Forwarded-For ${entries === 1 ? 'entry' : 'entries'}: if fewer proxies stand there, a client can choose the address its rate limits and logs see. Set TRUST_PROXY to the number of proxies, or their addresses (docs/deploying.md)`,
    );
  };
  server.on('request', check);
}

/** Path constants in one place (SPEC: "Where things live"). */
export const API_BASE = '/api/openai/v1';

export const PATHS = {
  clients: `${API_BASE}/oauth/clients`,
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  docs: '/docs',
  openapi: '/docs/openapi.json',
} as const;

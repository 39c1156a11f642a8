/** Path constants in one place (SPEC: "Where things live"). */
export const API_BASE = '/api/openai/v1';

export const PATHS = {
  clients: `${API_BASE}/oauth/clients`,
  authorize: `${API_BASE}/oauth/authorize`,
  authorizeDecision: `${API_BASE}/oauth/authorize/decision`,
  token: `${API_BASE}/oauth/token`,
  revoke: `${API_BASE}/oauth/revoke`,
  introspect: `${API_BASE}/oauth/introspect`,
  userinfo: `${API_BASE}/oauth/userinfo`,
  metadata: '/.well-known/oauth-authorization-server',
  login: '/login',
  signup: '/signup',
  logout: '/logout',
  dashboard: '/dashboard',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  docs: '/docs',
  openapi: '/docs/openapi.json',
} as const;

/**
 * What failed when a database or Redis could not be reached, in words an
 * operator acts on: nothing listening, no such host, no answer, the
 * credentials refused, the database missing. Undefined for any other error
 * (a failing migration, say), which is then told as it is.
 */
export function connectionFailure(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code } = error as { code?: unknown };
  // Node tries every address of a name (localhost: ::1, then 127.0.0.1) and reports them together, with no message.
  const attempts = error instanceof AggregateError && error.errors.length > 0 ? (error.errors as unknown[]) : [error];
  const where = attempts.map(address).filter(Boolean).join(', ');
  const at = where ? ` ${where}` : '';
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused (ECONNREFUSED${at})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN': {
      const { hostname } = error as { hostname?: unknown };
      return `host not found (${code}${typeof hostname === 'string' ? ` ${hostname}` : ''})`;
    }
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no answer (${code}${at})`;
    // PostgreSQL's SQLSTATEs: invalid_password, invalid_authorization_specification (no such role, no pg_hba.conf entry).
    case '28P01':
    case '28000':
      return `authentication failed: ${error.message}`;
    // invalid_catalog_name
    case '3D000':
      return `database missing: ${error.message}`;
  }
  if (/^(WRONGPASS|NOAUTH)\b/.test(error.message)) return `authentication failed: ${error.message}`;
  if (/^ERR DB index/.test(error.message)) return `database missing: ${error.message}`;
  // pg's own connection timeouts (the pool's and the client's), and Storage.ping's.
  if (/^(timeout exceeded when trying to connect|Connection terminated due to connection timeout|database ping timed out)/.test(error.message)) {
    return `no answer: ${error.message}`;
  }
  return undefined;
}

function address(error: unknown): string {
  const { address: host, port } = error as { address?: unknown; port?: unknown };
  if (typeof host !== 'string') return '';
  const shown = host.includes(':') ? `[${host}]` : host;
  return typeof port === 'number' ? `${shown}:${port}` : shown;
}

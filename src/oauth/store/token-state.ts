/** Where a token stands; the one place that decides whether a token is live. */
export type TokenState = 'live' | 'revoked' | 'consumed' | 'expired';

export function tokenState(row: { revoked_at: number | null; consumed_at: number | null; expires_at: number }, now: number): TokenState {
  if (row.revoked_at !== null) return 'revoked';
  if (row.consumed_at !== null) return 'consumed';
  return row.expires_at <= now ? 'expired' : 'live';
}

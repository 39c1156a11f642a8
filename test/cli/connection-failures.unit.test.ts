import { describe, expect, it } from 'vitest';
import { connectionFailure } from '../../src/cli/connection-failures.js';

/** An error shaped as Node's net module, pg or ioredis make it. */
function failure(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

describe('connectionFailure', () => {
  it.each([
    [failure('connect ECONNREFUSED 10.0.0.5:5432', { code: 'ECONNREFUSED', address: '10.0.0.5', port: 5432 }), 'connection refused (ECONNREFUSED 10.0.0.5:5432)'],
    [failure('connect ECONNREFUSED ::1:6379', { code: 'ECONNREFUSED', address: '::1', port: 6379 }), 'connection refused (ECONNREFUSED [::1]:6379)'],
    [failure('getaddrinfo ENOTFOUND db.internal', { code: 'ENOTFOUND', hostname: 'db.internal' }), 'host not found (ENOTFOUND db.internal)'],
    [failure('connect ETIMEDOUT', { code: 'ETIMEDOUT' }), 'no answer (ETIMEDOUT)'],
    [failure('password authentication failed for user "serika"', { code: '28P01' }), 'authentication failed: password authentication failed for user "serika"'],
    [failure('no pg_hba.conf entry for host "10.0.0.9"', { code: '28000' }), 'authentication failed: no pg_hba.conf entry for host "10.0.0.9"'],
    [failure('database "serika" does not exist', { code: '3D000' }), 'database missing: database "serika" does not exist'],
    [failure('WRONGPASS invalid username-password pair or user is disabled.', {}), 'authentication failed: WRONGPASS invalid username-password pair or user is disabled.'],
    [failure('NOAUTH Authentication required.', {}), 'authentication failed: NOAUTH Authentication required.'],
    [failure('ERR DB index is out of range', {}), 'database missing: ERR DB index is out of range'],
    [new Error('timeout exceeded when trying to connect'), 'no answer: timeout exceeded when trying to connect'],
  ])('tells %s as %j', (error, expected) => {
    expect(connectionFailure(error)).toBe(expected);
  });

  it('names every address Node tried for a name, as it reports them together with no message', () => {
    const tried = new AggregateError(
      [failure('', { code: 'ECONNREFUSED', address: '::1', port: 5432 }), failure('', { code: 'ECONNREFUSED', address: '127.0.0.1', port: 5432 })],
      '',
    );
    Object.assign(tried, { code: 'ECONNREFUSED' });
    expect(connectionFailure(tried)).toBe('connection refused (ECONNREFUSED [::1]:5432, 127.0.0.1:5432)');
  });

  it('leaves every other error to be told as it is', () => {
    expect(connectionFailure(failure('relation "users" does not exist', { code: '42P01' }))).toBeUndefined();
    expect(connectionFailure(new Error('canceling statement due to statement timeout'))).toBeUndefined();
    expect(connectionFailure('ECONNREFUSED')).toBeUndefined();
  });
});

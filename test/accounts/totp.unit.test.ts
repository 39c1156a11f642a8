import { describe, expect, it } from 'vitest';
import { newTotpSecret, totpStep, totpUri } from '../../src/accounts/second-factors/totp.js';
import { newRecoveryCodes, recoveryCodeHash } from '../../src/accounts/second-factors/recovery-codes.js';
import { acrOf, MULTI_FACTOR_ACR, parseAmr, withSecondFactor } from '../../src/accounts/auth-methods.js';

// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" (base32 below), 8-digit codes whose last 6 digits are the 6-digit code.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('TOTP (RFC 6238, SHA-1, 6 digits, 30 s)', () => {
  it('accepts the RFC 6238 test vectors at their times, and names their time step', () => {
    expect(totpStep(RFC_SECRET, '287082', 59_000)).toBe(1);
    expect(totpStep(RFC_SECRET, '081804', 1_111_111_109_000)).toBe(37_037_036);
    expect(totpStep(RFC_SECRET, '050471', 1_111_111_111_000)).toBe(37_037_037);
    expect(totpStep(RFC_SECRET, '005924', 1_234_567_890_000)).toBe(41_152_263);
  });

  it('accepts one step either side and nothing further', () => {
    const at = 1_111_111_111_000; // step 37037037, whose code is 050471
    expect(totpStep(RFC_SECRET, '050471', at + 30_000)).toBe(37_037_037);
    expect(totpStep(RFC_SECRET, '050471', at - 30_000)).toBe(37_037_037);
    expect(totpStep(RFC_SECRET, '050471', at + 60_000)).toBeNull();
    expect(totpStep(RFC_SECRET, '050471', at - 60_000)).toBeNull();
    expect(totpStep(RFC_SECRET, '05047', at)).toBeNull();
    expect(totpStep(RFC_SECRET, 'abcdef', at)).toBeNull();
  });

  it('makes 160-bit secrets and an otpauth URI apps read', () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const uri = new URL(totpUri(secret, 'serika.example', 'ada'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('serika.example');
    expect(uri.searchParams.get('algorithm')).toBe('SHA1');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
  });
});

describe('recovery codes', () => {
  it('are ten distinct codes, hashed the same however they are typed', () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-9]{4}(-[a-z2-9]{4}){3}$/);
    const code = codes[0]!;
    expect(recoveryCodeHash('u1', ` ${code.toUpperCase().replaceAll('-', ' ')} `)).toBe(recoveryCodeHash('u1', code));
    expect(recoveryCodeHash('u1', codes[1]!)).not.toBe(recoveryCodeHash('u1', code));
    expect(recoveryCodeHash('short', 'short')).toBeNull();
  });

  it('salt the hash with the user, so one precomputation cannot serve every account', () => {
    const [code] = newRecoveryCodes();
    expect(recoveryCodeHash('u1', code!)).not.toBe(recoveryCodeHash('u2', code!));
  });

  it('still accept the earlier 10-character codes, hashed as they were stored', () => {
    expect(recoveryCodeHash('u1', 'abcde-fghjk')).toBe(recoveryCodeHash('u2', 'ABCDE FGHJK'));
    expect(recoveryCodeHash('u1', 'abcde-fghjk')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('amr and acr (RFC 8176, SPEC §11)', () => {
  it('reads a session without amr as a password sign-in, and marks two factors', () => {
    expect(parseAmr(null)).toEqual(['pwd']);
    expect(acrOf(parseAmr(null))).toBe('0');
    const two = withSecondFactor(['pwd'], 'otp');
    expect(two).toEqual(['pwd', 'otp', 'mfa']);
    expect(acrOf(two)).toBe(MULTI_FACTOR_ACR);
    // A step-up of a two-factor session names each method once.
    expect(withSecondFactor(two, 'otp')).toEqual(['pwd', 'otp', 'mfa']);
  });
});

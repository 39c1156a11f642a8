import { describe, expect, it } from 'vitest';
import { isFormBody, parseForm } from '../../src/http/form-body.js';

describe('parseForm', () => {
  it('keeps fields with nothing to decode as they are, and decodes the others', () => {
    const form = parseForm('code=serika_ac_AbC-_.~9&redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1&name=a+b%2Bc&empty=&flag');
    expect({ ...form }).toEqual({ code: 'serika_ac_AbC-_.~9', redirect_uri: 'https://a.example/cb?x=1', name: 'a b+c', empty: '', flag: '' });
  });
  it('keeps a repeated field as an array and a bracketed name as it is', () => {
    expect({ ...parseForm('a=1&a=2&a=3&b%5Bc%5D=d') }).toEqual({ a: ['1', '2', '3'], 'b[c]': 'd' });
  });
  it('refuses a malformed percent-encoding and percent-encoded bytes that are not UTF-8', () => {
    expect(() => parseForm('a=%zz')).toThrow();
    expect(() => parseForm('a=%C3')).toThrow();
    expect(() => parseForm('%E9=x')).toThrow();
  });
  it('keeps fields named like Object.prototype members as plain fields, and is told from a JSON object', () => {
    const form = parseForm('__proto__=x&constructor=y&toString=z');
    expect(Object.keys(form)).toEqual(['__proto__', 'constructor', 'toString']);
    expect([form['__proto__'], form['constructor'], form['toString'], form['hasOwnProperty']]).toEqual(['x', 'y', 'z', undefined]);
    expect(isFormBody(form)).toBe(true);
    expect(isFormBody({ a: '1' })).toBe(false);
    expect(isFormBody(Object.create(null))).toBe(false);
  });
});

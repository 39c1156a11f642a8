import { describe, expect, it } from 'vitest';
import { SCHEMA_OPTIONS, compileSchema } from '../../src/http/schema-validation.js';
import { checkCreateClient } from '../../src/clients/validate.js';
import { AppError } from '../../src/errors.js';

/** One set of options for every JSON schema: Fastify's route validation (app.ts) and the validators compiled apart. */
describe('schema validation options', () => {
  const schema = {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: { name: { type: 'string' }, public: { type: 'boolean', default: false } },
  };
  const validate = compileSchema<{ name: string; public?: boolean }>(schema);

  it('accepts a valid body and fills in the defaults', () => {
    const body = { name: 'App' };
    expect(validate(body)).toBe(true);
    expect(body).toEqual({ name: 'App', public: false });
  });

  it('refuses unknown fields rather than dropping them, and never coerces a number into a string', () => {
    const extra = { name: 'App', owner: 'me' };
    expect(validate(extra)).toBe(false);
    expect(extra).toHaveProperty('owner', 'me');
    const numeric = { name: 42 };
    expect(validate(numeric)).toBe(false);
    expect(numeric.name).toBe(42);
  });

  it('is what Fastify is given: strict, first error only', () => {
    expect(SCHEMA_OPTIONS).toEqual({ removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false });
  });

  it('judges the dashboard form as the JSON API: the client schema with its messages', () => {
    expect(checkCreateClient({ name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['profile'] })).toMatchObject({ public: false });
    for (const input of [{ name: 'App', redirectUris: ['https://a.example/cb'], scopes: ['profile'], owner: 'me' }, { name: 42, redirectUris: ['https://a.example/cb'], scopes: ['profile'] }]) {
      expect(() => checkCreateClient(input)).toThrow(AppError);
    }
  });
});

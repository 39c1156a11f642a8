import AjvModule, { type ValidateFunction } from 'ajv';

/**
 * How every JSON schema is applied, by Fastify's route validation (app.ts) and by the validators
 * compiled here for input that comes another way (dashboard forms, client metadata): unknown
 * fields are an error (SPEC §3), never silently dropped, and a number is never coerced into a
 * string. allErrors stays off: reporting the first error is enough, and all of them costs a
 * hostile body more work.
 */
export const SCHEMA_OPTIONS = { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } as const;

// ajv is CommonJS: under NodeNext its class is the default export's default.
const Ajv = AjvModule.default;
const ajv = new Ajv(SCHEMA_OPTIONS);

/** A validator of a schema, judging as the JSON routes do. */
export function compileSchema<T = unknown>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

import AjvModule from 'ajv';
import { fromValidation } from '../http/openai-errors.js';
import { createClientBody, updateClientBody, type CreateClientInput, type UpdateClientInput } from './schemas.js';

// ajv is CommonJS: under NodeNext its class is the default export's default.
const Ajv = AjvModule.default;
// The options Fastify's route validation uses (app.ts), so a form and the JSON API judge alike.
const ajv = new Ajv({ removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false, strict: false });
const validateCreate = ajv.compile<CreateClientInput>(createClientBody);
const validateUpdate = ajv.compile<UpdateClientInput>(updateClientBody);

/**
 * The client-management schema applied to input that did not come through a
 * JSON route (the dashboard's forms): one source for every field limit,
 * with the JSON API's error messages.
 */
export function checkCreateClient(input: unknown): CreateClientInput {
  if (!validateCreate(input)) throw fromValidation(validateCreate.errors ?? [], 'body');
  return input;
}

export function checkUpdateClient(input: unknown): UpdateClientInput {
  if (!validateUpdate(input)) throw fromValidation(validateUpdate.errors ?? [], 'body');
  return input;
}

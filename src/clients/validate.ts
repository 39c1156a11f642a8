import { fromValidation } from '../http/openai-errors.js';
import { compileSchema } from '../http/schema-validation.js';
import { createClientBody, updateClientBody, type CreateClientInput, type UpdateClientInput } from './schemas.js';

// Compiled with the options of Fastify's route validation, so a form and the JSON API judge alike.
const validateCreate = compileSchema<CreateClientInput>(createClientBody);
const validateUpdate = compileSchema<UpdateClientInput>(updateClientBody);

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

import type { FastifyReply } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';
import type { AjvError, ClientError, ErrorClass } from './error-class.js';
import { errorHandler } from './error-handler.js';

/**
 * The OpenAI-style error wire format of the API (SPEC §3):
 * `{"error":{"message","type","param","code"}}`, all four members always present.
 */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export const openAIErrorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'param', 'code'],
      properties: {
        message: { type: 'string' },
        type: { type: 'string' },
        param: { type: ['string', 'null'] },
        code: { type: ['string', 'null'] },
      },
    },
  },
} as const;

/** `param` is the top-level field (SPEC §3): `/redirectUris/2` → `redirectUris`. */
function topLevelField(error: AjvError): string | null {
  const first = error.instancePath.split('/')[1];
  if (first) return first.replace(/~1/g, '/').replace(/~0/g, '~');
  const named = error.params.missingProperty ?? error.params.additionalProperty;
  return typeof named === 'string' ? named : null;
}

export function fromValidation(errors: AjvError[], context: string | undefined): AppError {
  const error = errors[0];
  if (!error) return new AppError('invalid_request', 'The request is not valid.');
  const param = topLevelField(error);
  const where = context === 'body' || context === undefined ? 'request body' : context;
  const field = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : param;
  switch (error.keyword) {
    case 'required':
      return new AppError('missing_required_parameter', `Missing required parameter: '${param}'.`, param);
    case 'additionalProperties':
      return new AppError('unknown_parameter', `Unrecognized request argument supplied: '${param}'.`, param);
    case 'type':
      if (!error.instancePath) return new AppError('invalid_type', `The ${where} must be a JSON ${String(error.params.type)}.`, null);
      return new AppError('invalid_type', `Invalid type for '${field}': expected ${String(error.params.type)}.`, param);
    case 'minProperties':
      return new AppError('invalid_request', `The ${where} must contain at least one field.`, null);
    case 'enum':
      return new AppError(
        'invalid_value',
        `Invalid value for '${field}': must be one of ${(error.params.allowedValues as unknown[]).map(String).join(', ')}.`,
        param,
      );
    case 'minItems':
      return new AppError('invalid_value', `'${field}' needs at least ${String(error.params.limit)} item${error.params.limit === 1 ? '' : 's'}.`, param);
    case 'maxItems':
      return new AppError('invalid_value', `'${field}' takes at most ${String(error.params.limit)} items.`, param);
    case 'minLength':
      return new AppError('invalid_value', error.params.limit === 1 ? `'${field}' must not be empty.` : `'${field}' must be at least ${String(error.params.limit)} characters.`, param);
    case 'maxLength':
      return new AppError('invalid_value', `'${field}' must be at most ${String(error.params.limit)} characters.`, param);
    case 'uniqueItems':
      return new AppError('invalid_value', `'${field}' must not list the same value twice.`, param);
    default:
      return new AppError('invalid_value', `Invalid value for '${field}': ${error.message ?? 'not allowed'}.`, param);
  }
}

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'invalid_request',
  401: 'unauthorized',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'request_too_large',
  414: 'invalid_request',
  415: 'unsupported_media_type',
};

// Our own words for the framework's client errors: its messages may quote the input.
const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'The request body is not valid JSON.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The request body is empty; send a JSON object.',
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is too large.',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported Content-Type; send application/json.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the body.',
  FST_ERR_BAD_URL: 'The request URL is not valid.',
};

const UNAVAILABLE = 'The service is temporarily unavailable; try again shortly.';

/** The AppError an API client is told, for each kind of error; faults of ours become a bare 500. */
function toAppError(error: ErrorClass): AppError {
  switch (error.kind) {
    case 'client_gone':
      return new AppError('invalid_request', 'The request was cut off.');
    case 'client_error':
      return error.coded instanceof AppError ? error.coded : fromClientError(error);
    case 'rate_limited':
      return error.coded instanceof AppError ? error.coded : new AppError('rate_limit_exceeded', 'Too many requests; slow down.');
    case 'unavailable':
      return error.coded instanceof AppError ? error.coded : new AppError('service_unavailable', UNAVAILABLE);
    case 'server_error':
      return error.coded instanceof AppError ? error.coded : new AppError('server_error', 'The server had an error while processing your request.');
  }
}

function fromClientError(error: ClientError): AppError {
  // Our body parser's words (InvalidBody) name what is wrong with the JSON.
  if (error.malformedJson && error.message !== null) return new AppError('invalid_json', error.message);
  if (error.validation) return fromValidation(error.validation.errors, error.validation.context);
  const code: ErrorCode = error.malformedJson ? 'invalid_json' : (STATUS_CODES[error.status] ?? 'invalid_request');
  const message = (error.code === null ? undefined : FRAMEWORK_MESSAGES[error.code]) ?? (error.malformedJson ? FRAMEWORK_MESSAGES.FST_ERR_CTP_INVALID_JSON_BODY : undefined);
  return new AppError(code, message ?? 'The request is not valid.', null, error.status);
}

export function openAIErrorBody(error: AppError): OpenAIErrorBody {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

function renderOpenAIError(error: ErrorClass, reply: FastifyReply): FastifyReply {
  const appError = toAppError(error);
  if (appError.status === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer realm="serika"');
  return reply.code(appError.status).type('application/json; charset=utf-8').send(openAIErrorBody(appError));
}

/** The error handler of API scopes. */
export const sendOpenAIError = errorHandler(renderOpenAIError);

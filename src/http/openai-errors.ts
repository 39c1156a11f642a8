import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, statusOf, type ErrorCode } from '../errors.js';
import { isClientGone } from './client-gone.js';
import { InvalidBody } from './json-body.js';
import { isDatabaseUnavailable } from '../storage/unavailable.js';

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

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

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
  429: 'rate_limit_exceeded',
  503: 'service_unavailable',
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

/** Turns anything thrown while serving an API request into an AppError; unknown failures become a 500. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof InvalidBody) return new AppError('invalid_json', error.message);
  if (isDatabaseUnavailable(error)) return new AppError('service_unavailable', 'The service is temporarily unavailable; try again shortly.');
  const e = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(e?.validation)) return fromValidation(e.validation, e.validationContext);
  const status = statusOf(error);
  if (status >= 400 && status < 500) {
    const isJson = e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e instanceof SyntaxError;
    const code: ErrorCode = isJson ? 'invalid_json' : (STATUS_CODES[status] ?? 'invalid_request');
    const message = FRAMEWORK_MESSAGES[e.code] ?? (isJson ? FRAMEWORK_MESSAGES.FST_ERR_CTP_INVALID_JSON_BODY : undefined);
    return new AppError(code, message ?? defaultMessage(code), null, status);
  }
  if (status === 503) return new AppError('service_unavailable', 'The service is temporarily unavailable; try again shortly.');
  return new AppError('server_error', 'The server had an error while processing your request.');
}

function defaultMessage(code: ErrorCode): string {
  return code === 'rate_limit_exceeded' ? 'Too many requests; slow down.' : 'The request is not valid.';
}

export function openAIErrorBody(error: AppError): OpenAIErrorBody {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

/** The error handler of API scopes. */
export function sendOpenAIError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isClientGone(error, request)) {
    request.log.info('client closed the connection before its request was read');
    return reply.code(400).send(openAIErrorBody(new AppError('invalid_request', 'The request was cut off.')));
  }
  const appError = toAppError(error);
  if (appError.status === 503) {
    request.log.warn({ err: error }, 'request refused: service unavailable');
    reply.header('retry-after', '1');
  } else if (appError.status >= 500) request.log.error({ err: error }, 'request failed');
  if (appError.status === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer realm="serika"');
  return reply.code(appError.status).type('application/json; charset=utf-8').send(openAIErrorBody(appError));
}

import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { B64TOKEN } from './http/authorization-header.js';

/**
 * Configuration comes from environment variables only (SPEC §1). Every
 * variable is parsed here, once, with its default written out beside it;
 * a bad value throws a ConfigError whose message is the single line the
 * process prints before exiting 1.
 */
export interface Config {
  port: number;
  host: string;
  /** The issuer identifier. With PORT=0 and no PUBLIC_URL, server.ts derives it from the picked port before the app is built. */
  publicUrl: string;
  publicUrlExplicit: boolean;
  databaseUrl: string;
  /** DATABASE_POOL_SIZE: PostgreSQL connections each process keeps at most (SQLite: unused). */
  databasePoolSize: number;
  redisUrl: string | null;
  upstreamBaseUrl: string | null;
  upstreamApiKey: string | null;
  /** Milliseconds. */
  upstreamTimeoutMs: number;
  /** Milliseconds: longest a client may take to send a whole request (headers and body). */
  requestTimeoutMs: number;
  /** Seconds. */
  accessTokenTtl: number;
  refreshTokenTtl: number;
  authCodeTtl: number;
  idTokenTtl: number;
  deviceCodeTtl: number;
  /** The completion cap Serika sends on a budgeted call that set none (SPEC §10). */
  budgetDefaultMaxTokens: number;
  /** TOKEN_CACHE: access-token lookups kept in memory per process (0 turns the cache off). */
  tokenCache: number;
  /** GROUP_COMMIT: token issuance, usage rows and budget holds of one event-loop turn commit together (default: on with SQLite). */
  groupCommit: boolean;
  /** Requests per minute; 0 turns the limit off. */
  rateLimitToken: number;
  rateLimitLogin: number;
  /** Accounts created per IP per hour at /signup; 0 turns the limit off. */
  rateLimitSignup: number;
  signup: 'open' | 'closed';
  /** MFA: `required` makes every user set up a second factor at their next sign-in (SPEC §11). */
  mfa: 'optional' | 'required';
  metricsToken: string | null;
  logLevel: LogLevel;
  /** Fastify's trustProxy: whose X-Forwarded-For/-Proto to believe (false: nobody's). */
  trustProxy: boolean | number | string;
  /** Milliseconds: on SIGTERM, /readyz answers 503 while still serving for this long. */
  shutdownDrainMs: number;
  /** Milliseconds: then in-flight requests get this long before streams are ended. */
  shutdownTimeoutMs: number;
  maxClientsPerUser: number;
  /** Dynamic client registration (SPEC §8). */
  registration: 'open' | 'closed';
  /** Registrations per IP per hour; 0 turns the limit off. */
  rateLimitRegister: number;
  /** Client ID metadata documents (SPEC §8). */
  cimd: boolean;
  /** Metadata documents may live on loopback and private addresses, over http too (development and tests only). */
  cimdAllowPrivate: boolean;
  /** Webhook and back-channel logout URLs may be on loopback and private addresses, over http too (SPEC §13; development and tests only). */
  webhooksAllowPrivate: boolean;
  /** Days an audit event is kept before the pruner deletes it. */
  auditRetentionDays: number;
  /** OPERATOR_NAME: who runs this Serika, as pages name it ("Verified by …", SPEC §12). */
  operatorName: string;
  /** KEY_ENCRYPTION_SECRETS: the first seals private keys at rest, any of them opens (empty: stored plain). */
  keyEncryptionSecrets: readonly string[];
  /** SMTP_URL: where mail goes (nodemailer); null: each message is one `mail` log line (SPEC §1, §11). */
  smtpUrl: string | null;
  /** MAIL_FROM: the From of every message. */
  mailFrom: string;
  /** RATE_LIMIT_MAIL: messages per account (and mail-sending forms per IP) per hour; 0 turns the limit off. */
  rateLimitMail: number;
  /** OpenTelemetry tracing from the standard OTEL_* variables; null (off, the SDK never loaded) unless an OTLP endpoint is set. */
  tracing: TracingConfig | null;
}

export interface TracingConfig {
  /** Where spans are POSTed: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT + v1/traces. */
  tracesUrl: string;
  protocol: 'http/protobuf' | 'http/json';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    value: string,
    accepts: string,
  ) {
    super(`Invalid ${variable}=${JSON.stringify(maskCredentials(value))}: expected ${accepts}`);
    this.name = 'ConfigError';
  }
}

/**
 * A URL's password never reaches a message or a log: `postgres://u:secret@db`
 * becomes `postgres://u:***@db` (works on text that merely holds such URLs).
 */
export function maskCredentials(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]*@/gi, '$1***@');
}

type Env = Record<string, string | undefined>;

/** Empty strings count as unset, as they do for most twelve-factor tools. */
function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number, accepts: string): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, raw, accepts);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ConfigError(name, raw, accepts);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const lower = raw.toLowerCase() as T;
  if (!allowed.includes(lower)) throw new ConfigError(name, raw, `one of ${allowed.join(', ')}`);
  return lower;
}

function httpUrl(env: Env, name: string, accepts: string, originOnly: boolean): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, raw, accepts);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, raw, accepts);
  if (url.search || url.hash || url.username || url.password || raw.includes('#')) {
    throw new ConfigError(name, raw, accepts);
  }
  if (originOnly) {
    // RFC 8414 §2: the issuer is an https (or, for development, http) URL with no query or fragment;
    // Serika serves at the origin root, so no path either.
    if (url.pathname !== '/') throw new ConfigError(name, raw, accepts);
    return url.origin;
  }
  return raw.replace(/\/+$/, '');
}

export function defaultPublicUrl(port: number): string {
  return `http://localhost:${port}`;
}

/** A duration in seconds (decimals allowed), as milliseconds. */
function secondsMs(env: Env, name: string, fallback: number, zeroAllowed = false): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback * 1000;
  const seconds = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(seconds > 0 || (zeroAllowed && seconds === 0)) || seconds > 86_400) {
    throw new ConfigError(name, raw, `a number of seconds ${zeroAllowed ? 'from 0' : 'greater than 0 and'} to 86400 (decimals allowed)`);
  }
  return Math.round(seconds * 1000);
}

function flag(env: Env, name: string, fallback: boolean, on: string, off: string): boolean {
  return oneOf(env, name, [on, off], fallback ? on : off) === on;
}

function parsesAsUrl(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/** TRUST_PROXY: false (default), true, a hop count, or comma-separated addresses and CIDRs (Fastify's trustProxy). */
function trustProxy(env: Env): boolean | number | string {
  const raw = read(env, 'TRUST_PROXY');
  const accepts = 'false, true, a hop count (1-10), or comma-separated IP addresses and CIDRs such as 10.0.0.0/8,127.0.0.1';
  if (raw === undefined || raw.toLowerCase() === 'false') return false;
  if (raw.toLowerCase() === 'true') return true;
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops < 1 || hops > 10) throw new ConfigError('TRUST_PROXY', raw, accepts);
    return hops;
  }
  const entries = raw.split(',').map((e) => e.trim());
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const maxBits = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits))) {
      throw new ConfigError('TRUST_PROXY', raw, accepts);
    }
  }
  return entries.join(',');
}

// Sent as `Authorization: Bearer …`, so it must be one RFC 6750 b64token.
function metricsToken(env: Env): string | null {
  const token = read(env, 'METRICS_TOKEN');
  if (token === undefined) return null;
  if (!B64TOKEN.test(token)) throw new ConfigError('METRICS_TOKEN', '(hidden)', 'letters, digits and - . _ ~ + / (a bearer token)');
  return token;
}

/** The shortest secret KEY_ENCRYPTION_SECRETS accepts (SPEC §1). */
const KEY_ENCRYPTION_SECRET_MIN = 32;

// Never echoed back: the message says what is wrong with which entry, not the value.
function keyEncryptionSecrets(env: Env): string[] {
  const raw = read(env, 'KEY_ENCRYPTION_SECRETS');
  if (raw === undefined) return [];
  const secrets = raw.split(',').map((s) => s.trim());
  const accepts = `comma-separated secrets of at least ${KEY_ENCRYPTION_SECRET_MIN} characters each (the first encrypts, any decrypts)`;
  secrets.forEach((secret, i) => {
    if (secret.length < KEY_ENCRYPTION_SECRET_MIN) throw new ConfigError('KEY_ENCRYPTION_SECRETS', `(hidden; secret ${i + 1} has ${secret.length} characters)`, accepts);
  });
  return [...new Set(secrets)];
}

/**
 * OpenTelemetry's own variables (its SDK environment specification): traces go out only when an OTLP endpoint
 * is set, the SDK is not disabled and the exporter is not `none`. OTLP over HTTP only (protobuf, the default,
 * or JSON); the SDK reads the rest (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS, …).
 */
function tracing(env: Env): TracingConfig | null {
  if (read(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null;
  if (oneOf(env, 'OTEL_TRACES_EXPORTER', ['otlp', 'none'], 'otlp') === 'none') return null;
  const accepts = 'an http(s) URL of an OTLP/HTTP receiver, such as http://localhost:4318';
  const url = (name: string) => {
    const raw = read(env, name);
    if (raw !== undefined && !(parsesAsUrl(raw) && /^https?:$/.test(new URL(raw).protocol))) throw new ConfigError(name, raw, accepts);
    return raw;
  };
  const traces = url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = url('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (traces === undefined && base === undefined) return null;
  const protocolVariable = read(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = read(env, protocolVariable) ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') throw new ConfigError(protocolVariable, protocol, 'http/protobuf or http/json (gRPC is not supported)');
  // The base endpoint gets the signal's path appended; the per-signal one is used as it is.
  return { tracesUrl: traces ?? `${base!.replace(/\/+$/, '')}/v1/traces`, protocol };
}

function smtpUrl(env: Env): string | null {
  const raw = read(env, 'SMTP_URL');
  if (raw === undefined) return null;
  if (!/^smtps?:\/\/[^/]/.test(raw) || !parsesAsUrl(raw)) throw new ConfigError('SMTP_URL', raw, 'smtp://user:password@host:587 or smtps://user:password@host:465');
  return raw;
}

/** MAIL_FROM: an address, optionally with a display name (`Serika <no-reply@example.com>`); the default names PUBLIC_URL's host. */
/** SPEC §1: the host of PUBLIC_URL, with its port if any, unless named; one line of 1–100 characters. */
function operatorName(env: Env, publicUrl: string): string {
  const raw = read(env, 'OPERATOR_NAME')?.trim();
  if (raw === undefined || raw === '') return new URL(publicUrl).host;
  if (raw.length > 100 || /\p{Cc}/u.test(raw)) throw new ConfigError('OPERATOR_NAME', raw.slice(0, 40), 'a name of 1–100 characters on one line');
  return raw;
}

function mailFrom(env: Env, publicUrl: string): string {
  const raw = read(env, 'MAIL_FROM');
  if (raw === undefined) return `Serika <no-reply@${new URL(publicUrl).hostname}>`;
  if (!/^(?:[^<>@\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(raw)) {
    throw new ConfigError('MAIL_FROM', raw, 'an address such as no-reply@example.com or Serika <no-reply@example.com>');
  }
  return raw;
}

export function parseConfig(env: Env = process.env): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535, 'an integer from 0 to 65535 (0 picks a free port)');
  const host = read(env, 'HOST') ?? '127.0.0.1';
  if (/\s|\/|^\[|\]$/.test(host)) throw new ConfigError('HOST', host, 'a host name or IP address to listen on');

  const explicitPublicUrl = httpUrl(env, 'PUBLIC_URL', 'an http(s) origin such as https://auth.example.com (no path, query or fragment)', true);

  const databaseUrl = read(env, 'DATABASE_URL') ?? 'sqlite:./data/serika.db';
  const databaseAccepts = 'sqlite:PATH or postgres://user:password@host:port/database (port 1-65535)';
  if (!/^sqlite:.+/.test(databaseUrl) && !(/^postgres(ql)?:\/\/.+/.test(databaseUrl) && parsesAsUrl(databaseUrl))) {
    throw new ConfigError('DATABASE_URL', databaseUrl, databaseAccepts);
  }

  const redisUrl = read(env, 'REDIS_URL') ?? null;
  if (redisUrl !== null && !(/^rediss?:\/\/.+/.test(redisUrl) && parsesAsUrl(redisUrl))) {
    throw new ConfigError('REDIS_URL', redisUrl, 'redis://[:password@]host:port or rediss://… (port 1-65535)');
  }

  const upstreamBaseUrl =
    httpUrl(env, 'UPSTREAM_BASE_URL', 'an http(s) base URL with its version, such as https://api.openai.com/v1', false) ?? null;

  const upstreamTimeoutMs = secondsMs(env, 'UPSTREAM_TIMEOUT', 120);
  const requestTimeoutMs = secondsMs(env, 'REQUEST_TIMEOUT', 30);

  const ttl = (name: string, fallback: number) =>
    integer(env, name, fallback, 1, 10 * 365 * 86_400, 'a whole number of seconds from 1 to 315360000');
  const rate = (name: string, fallback: number) =>
    integer(env, name, fallback, 0, 1_000_000_000, 'a whole number of requests per minute (0 turns the limit off)');

  const cimdAllowPrivate = flag(env, 'CIMD_ALLOW_PRIVATE', false, 'true', 'false');
  // A production issuer must never fetch from its own network on a stranger's say-so (SSRF).
  if (cimdAllowPrivate && explicitPublicUrl?.startsWith('https:')) {
    throw new ConfigError('CIMD_ALLOW_PRIVATE', 'true', 'false when PUBLIC_URL is https (private metadata documents are for local development and tests only)');
  }
  const webhooksAllowPrivate = flag(env, 'WEBHOOKS_ALLOW_PRIVATE', false, 'true', 'false');
  // Likewise for the URLs apps give for webhooks and back-channel logout (SPEC §13).
  if (webhooksAllowPrivate && explicitPublicUrl?.startsWith('https:')) {
    throw new ConfigError('WEBHOOKS_ALLOW_PRIVATE', 'true', 'false when PUBLIC_URL is https (private webhook URLs are for local development and tests only)');
  }

  return {
    port,
    host,
    publicUrl: explicitPublicUrl ?? defaultPublicUrl(port),
    publicUrlExplicit: explicitPublicUrl !== undefined,
    databaseUrl,
    // Per process: workers × instances × this must stay under PostgreSQL's max_connections (docs/deploying.md).
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000, 'a whole number of connections per process from 1 to 1000'),
    redisUrl,
    upstreamBaseUrl,
    upstreamApiKey: read(env, 'UPSTREAM_API_KEY') ?? null,
    upstreamTimeoutMs,
    requestTimeoutMs,
    accessTokenTtl: ttl('ACCESS_TOKEN_TTL', 3600),
    refreshTokenTtl: ttl('REFRESH_TOKEN_TTL', 2_592_000),
    authCodeTtl: ttl('AUTH_CODE_TTL', 60),
    idTokenTtl: ttl('ID_TOKEN_TTL', 3600),
    deviceCodeTtl: integer(env, 'DEVICE_CODE_TTL', 600, 60, 86_400, 'a whole number of seconds from 60 to 86400'),
    budgetDefaultMaxTokens: integer(env, 'BUDGET_DEFAULT_MAX_TOKENS', 4096, 1, 1_000_000, 'a whole number of tokens from 1 to 1000000'),
    tokenCache: integer(env, 'TOKEN_CACHE', 10_000, 0, 1_000_000, 'a number of tokens from 0 (off) to 1000000'),
    // On SQLite a group's one commit writes the shared pages once; on PostgreSQL the pool's parallel
    // transactions are faster than one connection's serial statements (bench/NOTES.md).
    groupCommit: flag(env, 'GROUP_COMMIT', databaseUrl.startsWith('sqlite:'), 'on', 'off'),
    rateLimitToken: rate('RATE_LIMIT_TOKEN', 600),
    rateLimitLogin: rate('RATE_LIMIT_LOGIN', 20),
    rateLimitSignup: integer(env, 'RATE_LIMIT_SIGNUP', 10, 0, 1_000_000_000, 'a whole number of accounts per hour (0 turns the limit off)'),
    signup: oneOf(env, 'SIGNUP', ['open', 'closed'] as const, 'open'),
    mfa: oneOf(env, 'MFA', ['optional', 'required'] as const, 'optional'),
    metricsToken: metricsToken(env),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    trustProxy: trustProxy(env),
    shutdownDrainMs: secondsMs(env, 'SHUTDOWN_DRAIN', 5, true),
    shutdownTimeoutMs: secondsMs(env, 'SHUTDOWN_TIMEOUT', 30, true),
    maxClientsPerUser: integer(env, 'MAX_CLIENTS_PER_USER', 100, 1, 1_000_000, 'a whole number of clients from 1 to 1000000'),
    registration: oneOf(env, 'REGISTRATION', ['open', 'closed'] as const, 'open'),
    rateLimitRegister: integer(env, 'RATE_LIMIT_REGISTER', 10, 0, 1_000_000_000, 'a whole number of registrations per hour (0 turns the limit off)'),
    cimd: flag(env, 'CIMD', true, 'on', 'off'),
    cimdAllowPrivate,
    webhooksAllowPrivate,
    auditRetentionDays: integer(env, 'AUDIT_RETENTION_DAYS', 365, 1, 36_500, 'a whole number of days from 1 to 36500'),
    operatorName: operatorName(env, explicitPublicUrl ?? defaultPublicUrl(port)),
    keyEncryptionSecrets: keyEncryptionSecrets(env),
    tracing: tracing(env),
    smtpUrl: smtpUrl(env),
    mailFrom: mailFrom(env, explicitPublicUrl ?? defaultPublicUrl(port)),
    rateLimitMail: integer(env, 'RATE_LIMIT_MAIL', 3, 0, 1_000_000_000, 'a whole number of messages per hour (0 turns the limit off)'),
  };
}

/** Reads `.env` from the working directory if present; variables already set win. */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

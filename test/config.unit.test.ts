import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';

describe('configuration', () => {
  it('has the defaults SPEC §1 gives', () => {
    expect(parseConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:3000',
      publicUrlExplicit: false,
      databaseUrl: 'sqlite:./data/serika.db',
      databasePoolSize: 10,
      redisUrl: null,
      upstreamBaseUrl: null,
      upstreamApiKey: null,
      upstreamTimeoutMs: 120_000,
      requestTimeoutMs: 30_000,
      accessTokenTtl: 3600,
      refreshTokenTtl: 2_592_000,
      authCodeTtl: 60,
      idTokenTtl: 3600,
      deviceCodeTtl: 600,
      budgetDefaultMaxTokens: 4096,
      tokenCache: 10_000,
      groupCommit: true,
      rateLimitToken: 600,
      rateLimitLogin: 20,
      rateLimitSignup: 10,
      signup: 'open',
      mfa: 'optional',
      metricsToken: null,
      logLevel: 'info',
      trustProxy: false,
      shutdownDrainMs: 5_000,
      shutdownTimeoutMs: 30_000,
      maxClientsPerUser: 100,
      registration: 'open',
      rateLimitRegister: 10,
      cimd: true,
      cimdAllowPrivate: false,
      webhooksAllowPrivate: false,
      auditRetentionDays: 365,
      operatorName: 'localhost:3000',
      keyEncryptionSecrets: [],
      smtpUrl: null,
      mailFrom: 'Serika <no-reply@localhost>',
      rateLimitMail: 3,
      tracing: null,
    });
  });

  it('reads SMTP_URL, MAIL_FROM and RATE_LIMIT_MAIL, and refuses what nodemailer could not use', () => {
    expect(parseConfig({ PUBLIC_URL: 'https://auth.example.com' }).mailFrom).toBe('Serika <no-reply@auth.example.com>');
    const config = parseConfig({ SMTP_URL: 'smtps://u:p@mail.example.com:465', MAIL_FROM: 'Auth <auth@example.com>', RATE_LIMIT_MAIL: '0' });
    expect(config).toMatchObject({ smtpUrl: 'smtps://u:p@mail.example.com:465', mailFrom: 'Auth <auth@example.com>', rateLimitMail: 0 });
    expect(parseConfig({ MAIL_FROM: 'auth@example.com' }).mailFrom).toBe('auth@example.com');
    expect(() => parseConfig({ SMTP_URL: 'http://mail.example.com' })).toThrow(/SMTP_URL/);
    // The password never reaches the message.
    expect(() => parseConfig({ SMTP_URL: 'mail://u:secret@x' })).toThrow(/^(?!.*secret).*SMTP_URL/);
    expect(() => parseConfig({ MAIL_FROM: 'not an address' })).toThrow(/MAIL_FROM/);
    expect(() => parseConfig({ RATE_LIMIT_MAIL: '-1' })).toThrow(/RATE_LIMIT_MAIL/);
  });

  it('names the operator OPERATOR_NAME, by default the host of PUBLIC_URL with its port (SPEC §12)', () => {
    expect(parseConfig({ PUBLIC_URL: 'https://auth.example.com' }).operatorName).toBe('auth.example.com');
    expect(parseConfig({ PUBLIC_URL: 'https://auth.example.com:8443' }).operatorName).toBe('auth.example.com:8443');
    expect(parseConfig({ OPERATOR_NAME: '  Example Inc. ' }).operatorName).toBe('Example Inc.');
    expect(() => parseConfig({ OPERATOR_NAME: 'x'.repeat(101) })).toThrow(/OPERATOR_NAME/);
    expect(() => parseConfig({ OPERATOR_NAME: 'two\nlines' })).toThrow(ConfigError);
  });

  it('reads every variable', () => {
    const config = parseConfig({
      PORT: '8080',
      HOST: '0.0.0.0',
      PUBLIC_URL: 'https://auth.example.com/',
      DATABASE_URL: 'postgres://u@db:5432/serika',
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: 'redis://cache:6379',
      UPSTREAM_BASE_URL: 'http://localhost:11434/v1/',
      UPSTREAM_API_KEY: 'sk-up',
      UPSTREAM_TIMEOUT: '2.5',
      ACCESS_TOKEN_TTL: '60',
      REFRESH_TOKEN_TTL: '120',
      AUTH_CODE_TTL: '30',
      RATE_LIMIT_TOKEN: '0',
      RATE_LIMIT_LOGIN: '5',
      RATE_LIMIT_SIGNUP: '0',
      SIGNUP: 'closed',
      METRICS_TOKEN: 'm',
      LOG_LEVEL: 'warn',
      REGISTRATION: 'closed',
      RATE_LIMIT_REGISTER: '0',
      CIMD: 'off',
      AUDIT_RETENTION_DAYS: '30',
    });
    expect(config).toMatchObject({
      registration: 'closed',
      rateLimitRegister: 0,
      cimd: false,
      cimdAllowPrivate: false,
      port: 8080,
      host: '0.0.0.0',
      publicUrl: 'https://auth.example.com',
      publicUrlExplicit: true,
      databaseUrl: 'postgres://u@db:5432/serika',
      databasePoolSize: 4,
      redisUrl: 'redis://cache:6379',
      upstreamBaseUrl: 'http://localhost:11434/v1',
      upstreamTimeoutMs: 2500,
      accessTokenTtl: 60,
      refreshTokenTtl: 120,
      authCodeTtl: 30,
      rateLimitToken: 0,
      rateLimitLogin: 5,
      rateLimitSignup: 0,
      signup: 'closed',
      metricsToken: 'm',
      logLevel: 'warn',
      auditRetentionDays: 30,
    });
  });

  it('groups commits by default on SQLite only; GROUP_COMMIT decides when set', () => {
    expect(parseConfig({ DATABASE_URL: 'sqlite:./x.db' }).groupCommit).toBe(true);
    expect(parseConfig({ DATABASE_URL: 'postgres://db/serika' }).groupCommit).toBe(false);
    expect(parseConfig({ DATABASE_URL: 'postgres://db/serika', GROUP_COMMIT: 'on' }).groupCommit).toBe(true);
    expect(parseConfig({ GROUP_COMMIT: 'off' }).groupCommit).toBe(false);
    expect(() => parseConfig({ GROUP_COMMIT: 'yes' })).toThrow(/GROUP_COMMIT/);
  });

  it('derives the default PUBLIC_URL from PORT', () => {
    expect(parseConfig({ PORT: '4000' }).publicUrl).toBe('http://localhost:4000');
  });

  const bad: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PUBLIC_URL', 'auth.example.com'],
    ['PUBLIC_URL', 'https://auth.example.com/base'],
    ['PUBLIC_URL', 'https://auth.example.com/?x=1'],
    ['PUBLIC_URL', 'https://auth.example.com/#f'],
    ['PUBLIC_URL', 'ftp://auth.example.com'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'sqlite:'],
    ['DATABASE_POOL_SIZE', '0'],
    ['DATABASE_POOL_SIZE', 'ten'],
    ['DATABASE_POOL_SIZE', '2.5'],
    ['DATABASE_POOL_SIZE', '1001'],
    ['REDIS_URL', 'http://cache'],
    ['UPSTREAM_BASE_URL', 'not a url'],
    ['UPSTREAM_TIMEOUT', '0'],
    ['REQUEST_TIMEOUT', '-1'],
    ['TRUST_PROXY', 'everyone'],
    ['TRUST_PROXY', '10.0.0.0/33'],
    ['TRUST_PROXY', '0'],
    ['SHUTDOWN_DRAIN', 'soon'],
    ['SHUTDOWN_TIMEOUT', '-1'],
    ['MAX_CLIENTS_PER_USER', '0'],
    ['METRICS_TOKEN', 'has spaces'],
    ['UPSTREAM_TIMEOUT', 'soon'],
    ['UPSTREAM_TIMEOUT', '-3'],
    ['ACCESS_TOKEN_TTL', '0'],
    ['REFRESH_TOKEN_TTL', '1e3'],
    ['AUTH_CODE_TTL', 'sixty'],
    ['RATE_LIMIT_TOKEN', '-1'],
    ['RATE_LIMIT_LOGIN', 'lots'],
    ['RATE_LIMIT_SIGNUP', '-1'],
    ['RATE_LIMIT_SIGNUP', 'ten'],
    ['SIGNUP', 'maybe'],
    ['MFA', 'always'],
    ['LOG_LEVEL', 'loud'],
    ['REGISTRATION', 'maybe'],
    ['RATE_LIMIT_REGISTER', '-1'],
    ['CIMD', 'yes'],
    ['CIMD_ALLOW_PRIVATE', '1'],
    ['WEBHOOKS_ALLOW_PRIVATE', 'yes'],
    ['DEVICE_CODE_TTL', '30'],
    ['BUDGET_DEFAULT_MAX_TOKENS', '0'],
    ['AUDIT_RETENTION_DAYS', '0'],
    ['AUDIT_RETENTION_DAYS', 'a year'],
    ['KEY_ENCRYPTION_SECRETS', 'too-short-a-secret'],
    ['KEY_ENCRYPTION_SECRETS', `${'n'.repeat(32)},`],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://collector/v1/traces'],
    ['OTEL_TRACES_EXPORTER', 'jaeger'],
  ];

  it('reads KEY_ENCRYPTION_SECRETS as comma-separated secrets of 32 characters or more, and never echoes one', () => {
    const first = 'f'.repeat(32);
    const second = 's'.repeat(40);
    expect(parseConfig({ KEY_ENCRYPTION_SECRETS: ` ${first} , ${second}` }).keyEncryptionSecrets).toEqual([first, second]);
    const short = 'hunter2-but-not-32-characters';
    expect(() => parseConfig({ KEY_ENCRYPTION_SECRETS: `${first},${short}` })).toThrow(/^Invalid KEY_ENCRYPTION_SECRETS=.*secret 2 has 29 characters.*at least 32 characters/);
    expect(() => parseConfig({ KEY_ENCRYPTION_SECRETS: `${first},${short}` })).not.toThrow(/hunter2/);
  });

  it('allows private metadata documents only for an http issuer', () => {
    expect(parseConfig({ CIMD_ALLOW_PRIVATE: 'true', PUBLIC_URL: 'http://127.0.0.1:3000' }).cimdAllowPrivate).toBe(true);
    expect(() => parseConfig({ CIMD_ALLOW_PRIVATE: 'true', PUBLIC_URL: 'https://auth.example.com' })).toThrow(/^Invalid CIMD_ALLOW_PRIVATE=.*PUBLIC_URL is https/);
  });

  it('allows private webhook URLs only for an http issuer', () => {
    expect(parseConfig({}).webhooksAllowPrivate).toBe(false);
    expect(parseConfig({ WEBHOOKS_ALLOW_PRIVATE: 'true', PUBLIC_URL: 'http://127.0.0.1:3000' }).webhooksAllowPrivate).toBe(true);
    expect(() => parseConfig({ WEBHOOKS_ALLOW_PRIVATE: 'true', PUBLIC_URL: 'https://auth.example.com' })).toThrow(/^Invalid WEBHOOKS_ALLOW_PRIVATE=.*PUBLIC_URL is https/);
  });

  it.each(bad)('refuses %s=%s with one line naming the variable and what it accepts', (name, value) => {
    let error: unknown;
    try {
      parseConfig({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^Invalid ${name}=`));
    expect(message).toContain('expected');
    expect(message).not.toContain('\n');
  });

  it.each([
    ['true', true],
    ['false', false],
    ['2', 2],
    ['127.0.0.1', '127.0.0.1'],
    ['10.0.0.0/8, 192.168.0.1 ,::1/128', '10.0.0.0/8,192.168.0.1,::1/128'],
  ])('reads TRUST_PROXY=%s', (value, expected) => {
    expect(parseConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('traces only when an OTLP endpoint is set (OTEL_*), over HTTP with protobuf or JSON', () => {
    expect(parseConfig({ OTEL_SERVICE_NAME: 'serika' }).tracing).toBeNull();
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({ tracesUrl: 'http://collector:4318/v1/traces', protocol: 'http/protobuf' });
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).tracing).toEqual({
      tracesUrl: 'https://t.example/otlp',
      protocol: 'http/json',
    });
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).tracing?.protocol).toBe('http/protobuf');
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeNull();
    expect(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing).toBeNull();
    expect(() => parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/^Invalid OTEL_EXPORTER_OTLP_PROTOCOL="grpc": expected http\/protobuf or http\/json/);
  });

  it('treats empty values as unset', () => {
    expect(parseConfig({ PORT: '', SIGNUP: ' ' }).port).toBe(3000);
  });
});

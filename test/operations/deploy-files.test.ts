import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cli.js';
import { NGINX, documentedConfig, nginxInstalled } from '../helpers/nginx.js';

const DEPLOY = join(ROOT, 'deploy');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const SYSTEMD_ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
if (!SYSTEMD_ANALYZE) console.warn('systemd-analyze is not installed: deploy/serika.service is checked statically only');

/** The seconds a stop may take before Serika's own last resort (serving.ts: drain + timeout + 15 s), at the defaults. */
const defaults = parseConfig({});
const STOP_SECONDS = (defaults.shutdownDrainMs + defaults.shutdownTimeoutMs) / 1000 + 15;

/** Every variable README's configuration table names. */
function documentedVariables(): string[] {
  const table = /## Configuration\n([\s\S]*?)\n## /.exec(read('README.md'))![1]!;
  return [...table.matchAll(/^\| (`[A-Z0-9_]+`(?: \/ `[A-Z0-9_]+`)*) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((v) => v[1]!));
}

describe('deploy/production.env.example', () => {
  const text = read('deploy/production.env.example');

  it('is plain KEY=value lines, read alike by systemd, docker compose and Node', () => {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      expect(line).toMatch(/^[A-Z][A-Z0-9_]*=[^\s'"#]*$/);
    }
  });

  it('parses with the app’s own parser, as it stands and with every commented default set', () => {
    const set = parseEnv(text);
    const config = parseConfig(set);
    expect(config.publicUrl).toMatch(/^https:\/\//);
    expect(config.databaseUrl).toMatch(/^postgres:\/\//);
    // The secrets are left for the operator: empty is unset (and warned about at start), never a known value.
    expect(set.KEY_ENCRYPTION_SECRETS).toBe('');
    expect(config.keyEncryptionSecrets).toEqual([]);
    const uncommented = text.replace(/^# ([A-Z][A-Z0-9_]*=)/gm, '$1');
    expect(() => parseConfig(parseEnv(uncommented))).not.toThrow();
    const filled = { ...parseEnv(uncommented), KEY_ENCRYPTION_SECRETS: 'k'.repeat(64), METRICS_TOKEN: 'm'.repeat(64), UPSTREAM_BASE_URL: 'https://api.openai.com/v1' };
    expect(parseConfig(filled)).toMatchObject({ keyEncryptionSecrets: ['k'.repeat(64)], metricsToken: 'm'.repeat(64) });
  });

  it('names every variable README documents, each under a comment', () => {
    const lines = text.split('\n');
    for (const name of documentedVariables()) {
      const at = lines.findIndex((l) => new RegExp(`^(# )?${name}=`).test(l));
      expect(at, `${name} in the example`).toBeGreaterThan(0);
      // Its comment: the line above, or the comment above a group of commented defaults.
      expect(lines.slice(0, at).reverse().find((l) => l.startsWith('# ') && !/^# [A-Z0-9_]+=/.test(l)), name).toBeDefined();
    }
  });
});

describe('deploy/serika.service', () => {
  const unit = read('deploy/serika.service');
  const setting = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!).at(-1);

  it('runs as a user of its own, with the environment file, restarts on failure, and is sandboxed', () => {
    expect(setting('User')).toMatch(/^(?!root$)\w+/);
    expect(setting('EnvironmentFile')).toBe('/etc/serika/production.env');
    expect(setting('ExecStart')).toMatch(/bin\/serika\.js serve\b/);
    expect(setting('Restart')).toBe('on-failure');
    for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ProtectHome', 'yes']]) expect(setting(key!), key).toBe(value);
    expect(setting('CapabilityBoundingSet')).toBe('');
  });

  it('stops with SIGTERM to the primary, waiting longer than Serika drains', () => {
    expect(setting('KillSignal')).toBe('SIGTERM');
    expect(setting('KillMode')).toBe('mixed');
    expect(Number(/^(\d+)s$/.exec(setting('TimeoutStopSec') ?? '')?.[1])).toBeGreaterThanOrEqual(STOP_SECONDS);
  });

  it.skipIf(!SYSTEMD_ANALYZE)('passes systemd-analyze verify with no warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'serika-unit-'));
    try {
      let text = unit;
      // verify checks that ExecStart's program exists: this machine's node where Debian's is absent.
      if (!existsSync('/usr/bin/node')) text = text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
      writeFileSync(join(dir, 'serika.service'), text);
      const result = spawnSync(SYSTEMD_ANALYZE!, ['verify', join(dir, 'serika.service')], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stderr.trim()).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface ComposeService {
  build?: { context: string; dockerfile: string };
  image?: string;
  env_file?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  stop_grace_period?: string;
  networks?: Record<string, { ipv4_address?: string }> | string[];
}

describe('deploy/compose.yaml', () => {
  const compose = parseYaml(read('deploy/compose.yaml')) as { services: Record<string, ComposeService>; networks: Record<string, { ipam: { config: Array<{ subnet: string }> } }> };
  const { services } = compose;

  it('is YAML naming Serika, PostgreSQL, Redis and nginx, each waiting for what it needs to be healthy', () => {
    expect(Object.keys(services).sort()).toEqual(['nginx', 'postgres', 'redis', 'serika']);
    const serika = services.serika!;
    expect(existsSync(join(DEPLOY, serika.build!.context, serika.build!.dockerfile))).toBe(true);
    expect(existsSync(join(DEPLOY, `${serika.env_file}.example`))).toBe(true);
    expect(serika.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(services.nginx!.depends_on).toEqual({ serika: { condition: 'service_healthy' } });
    for (const name of ['postgres', 'redis']) expect(services[name]!.healthcheck?.test.length, name).toBeGreaterThan(0);
    expect(Number(/^(\d+)s$/.exec(serika.stop_grace_period ?? '')?.[1])).toBeGreaterThanOrEqual(STOP_SECONDS - 15);
  });

  it('points Serika at its PostgreSQL and Redis, trusting nginx alone, with a configuration Serika accepts', () => {
    const env = services.serika!.environment!;
    const withPassword = { ...env, DATABASE_URL: env.DATABASE_URL!.replace(/\$\{POSTGRES_PASSWORD[^}]*\}/, 'pw') };
    const config = parseConfig({ ...parseEnv(read('deploy/production.env.example')), ...withPassword });
    expect(new URL(config.databaseUrl).host).toBe('postgres:5432');
    expect(new URL(config.redisUrl!).host).toBe('redis:6379');
    const nginxAddress = (services.nginx!.networks as Record<string, { ipv4_address: string }>).serika!.ipv4_address;
    expect(config.trustProxy).toBe(nginxAddress);
    const subnet = compose.networks.serika!.ipam.config[0]!.subnet;
    expect(nginxAddress.startsWith(subnet.replace(/0\/24$/, ''))).toBe(true);
  });

  it('mounts deploy/nginx.conf into nginx', () => {
    const mount = services.nginx!.volumes!.find((v) => v.includes('nginx.conf'))!;
    expect(mount).toMatch(/^\.\/nginx\.conf:\/etc\/nginx\/conf\.d\/default\.conf:ro$/);
    expect(existsSync(join(DEPLOY, 'nginx.conf'))).toBe(true);
  });
});

describe('deploy/nginx.conf', () => {
  const conf = read('deploy/nginx.conf');
  /** Everything after the upstream block: the part that must be the documented configuration. */
  const afterUpstream = (text: string) => text.slice(text.indexOf('\n}', text.indexOf('upstream serika {')) + 2).trim();

  it('is docs/deploying.md’s nginx configuration, but for its upstream', () => {
    const documented = documentedConfig();
    expect(afterUpstream(conf)).toBe(afterUpstream(documented));
    expect(conf).toMatch(/upstream serika \{[^}]*server serika:3000;/);
  });

  describe.skipIf(!nginxInstalled)('with nginx -t', () => {
    const dir = mkdtempSync(join(tmpdir(), 'serika-nginx-conf-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('passes, certificates in place and the compose service name resolved', () => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=auth.example.com', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      const site = conf
        .replace('server serika:3000;', 'server 127.0.0.1:3000;')
        .replace('/etc/ssl/certs/auth.example.com.pem', join(dir, 'cert.pem'))
        .replace('/etc/ssl/private/auth.example.com.key', join(dir, 'key.pem'));
      writeFileSync(join(dir, 'site.conf'), site);
      const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
      for (const temp of temps) mkdirSync(join(dir, temp));
      writeFileSync(
        join(dir, 'nginx.conf'),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n${temps.map((t) => `  ${t}_temp_path ${dir}/${t};\n`).join('')}  include ${dir}/site.conf;\n}\n`,
      );
      const result = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
    });
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { call, startTestServer, type TestServer } from '../helpers/server.js';

/** docs/integrating.md's metadata example: every member it shows is what the server serves. */
describe("docs/integrating.md's authorization server metadata", () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer('sqlite', { PUBLIC_URL: 'http://localhost:3000' });
  });
  afterAll(async () => ts?.close());

  it('matches the served document member by member', async () => {
    const doc = readFileSync(join(ROOT, 'docs/integrating.md'), 'utf8');
    const block = /```json\n(\{\n {2}"issuer"[\s\S]*?)```/.exec(doc);
    expect(block).not.toBeNull();
    const shown = JSON.parse(block![1]!) as Record<string, unknown>;
    expect(Object.keys(shown).length).toBeGreaterThan(15);
    const served = (await call('GET', `${ts.url}/.well-known/oauth-authorization-server`)).json as Record<string, unknown>;
    for (const [member, value] of Object.entries(shown)) expect({ member, value: served[member] }).toEqual({ member, value });
  });
});

import { mkdirSync } from 'node:fs';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser, startCallbackServer, type CallbackServer } from '../helpers/browser.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { PASSWORD, authorizeUrl, form, pkce, tokenRequest } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

/**
 * SPEC §15 in a real browser: "Only these" with one character ticked (by keyboard) on the consent page; the
 * other character is then not found through the API, MCP get_character and MCP chat with its character_id;
 * "All my characters" on the connected-apps card, and the next calls obey.
 */
describe.skipIf(!HAVE_CHROMIUM)('per-character consent in Chromium', () => {
  let ts: TestServer;
  let up: FakeUpstream;
  let browser: Browser;
  let callback: CallbackServer;
  let user: Seeded;

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    up = await startFakeUpstream();
    ts = await startTestServer('sqlite', { UPSTREAM_BASE_URL: up.baseUrl, RATE_LIMIT_TOKEN: '0' });
    callback = await startCallbackServer();
    user = await seedUser(ts, 'chars_browser');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await callback?.close();
    await ts?.close();
    await up?.close();
  });

  it('ticks one character by keyboard; the other is 404 through the API, chat and MCP; the card widens it and the next calls obey', async () => {
    const make = async (name: string, personality: string) => (await call('POST', `${ts.api}/characters`, { key: user.key, json: { name, personality } })).json.id as string;
    const nova = await make('Captain Nova', 'Bold and kind');
    const vex = await make('Doctor Vex', 'Cold and exact');
    const redirectUri = `${callback.origin}/callback`;
    const app = (await call('POST', `${ts.api}/oauth/clients`, { key: user.key, json: { name: 'Crew Chat', redirectUris: [redirectUri], scopes: ['characters', 'generations'], public: true } })).json;
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(ts, {
      response_type: 'code',
      client_id: app.clientId,
      redirect_uri: redirectUri,
      scope: 'characters generations',
      state: 's',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).replace(ts.url, ts.config.publicUrl);
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(url);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const group = page.getByRole('group', { name: 'Which characters may Crew Chat see?' });
    await group.waitFor();
    expect(await group.getByLabel('All my characters, including new ones').isChecked()).toBe(true);
    // By keyboard alone: the radio group's arrow key moves to "Only these", Space ticks a checkbox.
    await group.getByLabel('All my characters, including new ones').focus();
    await page.keyboard.press('ArrowDown');
    expect(await group.getByLabel('Only these').isChecked()).toBe(true);
    await group.getByLabel('Captain Nova').focus();
    await page.keyboard.press('Space');
    expect(await group.getByLabel('Captain Nova').isChecked()).toBe(true);
    expect(await group.getByLabel('Doctor Vex').isChecked()).toBe(false);
    await page.screenshot({ path: 'test-results/characters-consent.png', fullPage: true });
    const landed = callback.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    const code = (await landed).searchParams.get('code')!;
    const tokens = await tokenRequest(ts, form({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: app.clientId }));
    expect(tokens.json.authorization_details).toEqual([{ type: 'serika_characters', ids: [nova] }]);
    const token = tokens.json.access_token as string;

    const api = async (id: string) => (await call('GET', `${ts.api}/oauth/characters/${id}`, { headers: { authorization: `Bearer ${token}` } })).status;
    const mcp = new Client({ name: 'crew-chat', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${ts.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const getCharacter = (id: string) => mcp.callTool({ name: 'get_character', arguments: { character_id: id } });
    const chatAs = (id: string) => mcp.callTool({ name: 'chat', arguments: { prompt: 'Hello', character_id: id, model: 'test-model' } });
    try {
      expect(await api(nova)).toBe(200);
      expect(await api(vex)).toBe(404);
      expect((await getCharacter(nova)).isError).toBeFalsy();
      const hidden = await getCharacter(vex);
      expect(hidden.isError).toBe(true);
      expect((hidden.content as Array<{ text: string }>)[0]!.text).toContain(`No character ${vex} among your characters`);
      const sentBefore = up.received.length;
      const chat = await chatAs(vex);
      expect(chat.isError).toBe(true);
      expect((chat.content as Array<{ text: string }>)[0]!.text).toContain(`No character ${vex} among your characters`);
      // Refused before any model call: the persona never reached the upstream.
      expect(up.received.slice(sentBefore).some((r) => JSON.stringify(r.body).includes('Cold and exact'))).toBe(false);
      const listed = await mcp.callTool({ name: 'list_characters', arguments: {} });
      expect((listed.structuredContent as { characters: Array<{ id: string }> }).characters.map((c) => c.id)).toEqual([nova]);

      await page.goto(`${ts.config.publicUrl}/dashboard/apps`);
      await page.locator('summary', { hasText: 'Characters' }).click();
      const card = page.getByRole('group', { name: 'Which characters may Crew Chat see?' });
      expect(await card.getByLabel('Only these').isChecked()).toBe(true);
      expect(await card.getByLabel('Captain Nova').isChecked()).toBe(true);
      await card.getByLabel('All my characters, including new ones').check();
      await page.getByRole('button', { name: 'Save characters' }).click();
      await page.getByRole('heading', { name: 'Connected apps' }).waitFor();
      expect(await page.content()).toContain('Sees all your characters, including new ones.');
      await page.screenshot({ path: 'test-results/characters-dashboard.png', fullPage: true });

      expect(await api(vex)).toBe(200);
      expect((await getCharacter(vex)).structuredContent).toMatchObject({ id: vex, personality: 'Cold and exact' });
      const persona = await chatAs(vex);
      expect(persona.isError).toBeFalsy();
      expect(up.received.some((r) => JSON.stringify(r.body).includes('Cold and exact'))).toBe(true);
    } finally {
      await mcp.close();
      await context.close();
    }
  }, 60_000);
});

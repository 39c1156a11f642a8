#!/usr/bin/env node
// serika-chat: a terminal chat that signs in to Serika with the device authorization grant
// (RFC 8628), like `gh auth login`, then streams a chat completion with the openai SDK.
//
//   SERIKA_ISSUER=http://localhost:3000 SERIKA_CLIENT_ID=client_… node examples/cli/serika-chat.mjs "Tell me a joke"
//
// The client is a public client whose grant types include
// urn:ietf:params:oauth:grant-type:device_code (dashboard: "Allow sign-in from devices").
// The refresh token is kept in SERIKA_TOKEN_FILE (default ~/.config/serika-chat/token.json, mode 0600);
// the next run refreshes instead of asking again. Nothing is opened for you: you open the link.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import OpenAI from 'openai';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function fail(message) {
  console.error(`serika-chat: ${message}`);
  process.exit(1);
}

const issuer = (process.env.SERIKA_ISSUER ?? fail('set SERIKA_ISSUER (your Serika, e.g. http://localhost:3000)')).replace(/\/+$/, '');
const clientId = process.env.SERIKA_CLIENT_ID ?? fail('set SERIKA_CLIENT_ID (a public client allowed to sign in from devices)');
const tokenFile = process.env.SERIKA_TOKEN_FILE ?? join(homedir(), '.config', 'serika-chat', 'token.json');
const model = process.env.SERIKA_MODEL ?? 'gpt-4o-mini';
const prompt = process.argv.slice(2).join(' ') || fail('usage: serika-chat "your prompt"');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function form(url, params) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: new URLSearchParams(params) });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

function saveRefreshToken(refreshToken) {
  mkdirSync(dirname(tokenFile), { recursive: true, mode: 0o700 });
  writeFileSync(tokenFile, JSON.stringify({ issuer, client_id: clientId, refresh_token: refreshToken }) + '\n', { mode: 0o600 });
  chmodSync(tokenFile, 0o600); // also when the file was there already
}

function savedRefreshToken() {
  try {
    const saved = JSON.parse(readFileSync(tokenFile, 'utf8'));
    return saved.issuer === issuer && saved.client_id === clientId ? saved.refresh_token : undefined;
  } catch {
    return undefined;
  }
}

const discovery = await fetch(`${issuer}/.well-known/oauth-authorization-server`).then((r) => (r.ok ? r.json() : fail(`no authorization server metadata at ${issuer}`)));
if (!discovery.device_authorization_endpoint) fail(`${issuer} does not offer the device grant`);

/** A fresh access token: from the saved refresh token when it still works, else by signing in on another device. */
async function accessToken() {
  const saved = savedRefreshToken();
  if (saved) {
    const refreshed = await form(discovery.token_endpoint, { grant_type: 'refresh_token', refresh_token: saved, client_id: clientId });
    if (refreshed.status === 200) {
      saveRefreshToken(refreshed.body.refresh_token);
      return refreshed.body.access_token;
    }
    console.error('Your saved sign-in has expired; sign in again.');
  }
  const started = await form(discovery.device_authorization_endpoint, { client_id: clientId, scope: 'profile generations' });
  if (started.status !== 200) fail(`could not start the sign-in: ${started.body.error_description ?? started.body.error ?? started.status}`);
  const { device_code: deviceCode, user_code: userCode, verification_uri: uri, verification_uri_complete: complete, expires_in: expiresIn } = started.body;
  let interval = started.body.interval ?? 5;
  console.error(`! First copy your one-time code: ${userCode}`);
  console.error(`Then open ${uri} in a browser and enter it (or open ${complete}).`);
  console.error(`Waiting for you to allow it there (the code expires in ${Math.round(expiresIn / 60)} minutes)…`);
  const deadline = Date.now() + expiresIn * 1000;
  while (Date.now() < deadline) {
    await sleep(interval * 1000);
    const polled = await form(discovery.token_endpoint, { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId });
    if (polled.status === 200) {
      saveRefreshToken(polled.body.refresh_token);
      console.error('✓ Signed in.');
      return polled.body.access_token;
    }
    switch (polled.body.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        interval += 5; // RFC 8628 §3.5
        continue;
      case 'access_denied':
        fail('the sign-in was denied.');
        break;
      case 'expired_token':
        fail('the code expired before it was used; run again.');
        break;
      default:
        fail(`sign-in failed: ${polled.body.error_description ?? polled.body.error ?? polled.status}`);
    }
  }
  fail('the code expired before it was used; run again.');
}

const openai = new OpenAI({ baseURL: `${issuer}/api/openai/v1/oauth`, apiKey: await accessToken() });
const stream = await openai.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: prompt }] });
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
process.stdout.write('\n');

// Serves the single-page app (index.html) and oidc-client-ts's browser build, as any static host
// would. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… node examples/oidc-client-ts/serve.mjs
// after registering a public client whose redirect URI is http://127.0.0.1:4000/callback and whose
// post-logout redirect URI is http://127.0.0.1:4000/signed-out (PORT changes the port).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`example: set ${name}`);
    process.exit(1);
  }
  return value;
};
const port = Number(env('PORT', '4000'));
const library = join(dirname(createRequire(import.meta.url).resolve('oidc-client-ts/package.json')), 'dist/browser/oidc-client-ts.min.js');
const files = {
  '/oidc-client-ts.min.js': ['text/javascript', readFileSync(library)],
  '/config.json': ['application/json', JSON.stringify({ issuer: env('SERIKA_ISSUER'), clientId: env('CLIENT_ID') })],
};
const page = readFileSync(new URL('index.html', import.meta.url));

createServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  const [type, body] = files[path] ?? (['/', '/callback', '/signed-out'].includes(path) ? ['text/html; charset=utf-8', page] : []);
  if (!body) return void response.writeHead(404).end();
  response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
}).listen(port, '127.0.0.1', () => console.log(`Example app on http://127.0.0.1:${port}`));

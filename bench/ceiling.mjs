// The ceiling: a bare Fastify app doing the least a route can do, and the
// least a proxy can do (undici to the same test upstream Serika calls), given
// as argv[2].
import Fastify from 'fastify';
import { Agent, request } from 'undici';

const upstream = process.argv[2];
const agent = new Agent({ connections: 128 });
const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body))));
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
app.get('/hello', async () => ({ hello: 'world' }));
app.post('/echo', async (request) => request.body);
app.post('/proxy/chat/completions', async (req, reply) => {
  const answer = await request(`${upstream}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: req.body, dispatcher: agent });
  reply.code(answer.statusCode).header('content-type', answer.headers['content-type']);
  return Buffer.from(await answer.body.arrayBuffer());
});
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${app.server.address().port}` })}\n`);

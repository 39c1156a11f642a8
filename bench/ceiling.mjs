// The ceiling: a bare Fastify app doing the least a route can do.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body))));
app.get('/hello', async () => ({ hello: 'world' }));
app.post('/echo', async (request) => request.body);
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${app.server.address().port}` })}\n`);

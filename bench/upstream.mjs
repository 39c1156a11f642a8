// A minimal OpenAI-compatible upstream for the streaming, completion and (non-streamed) responses scenarios.
import { createServer } from 'node:http';

const completion = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', created: 1, model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the bench upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
});
const chunk = (content, extra = '') => `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]${extra}}\n\n`;
const words = ['Hello', ' from', ' the', ' bench', ' upstream', '.'];
// The Responses API (SPEC §14): each answer a response with an id of its own, as the upstream's ids are unique.
let responses = 0;
const responseAfterId = '","object":"response","created_at":1,"status":"completed","model":"bench","output":[{"type":"message","id":"msg_bench","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello from the bench upstream.","annotations":[]}]}],"usage":{"input_tokens":12,"output_tokens":8,"total_tokens":20}}';
const CHUNK_MS = Number(process.env.BENCH_CHUNK_MS ?? 5);

const server = createServer((request, response) => {
  const chunks = [];
  request.on('data', (c) => chunks.push(c));
  request.on('end', () => {
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
    if (request.url === '/v1/responses') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(`{"id":"resp_bench${(responses++).toString(36)}${responseAfterId}`);
      return;
    }
    if (!body.stream) {
      response.writeHead(200, { 'content-type': 'application/json' }).end(completion);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    // A token every CHUNK_MS, as a small fast model would produce them (0 makes it instant).
    let i = 0;
    const tick = () => {
      if (i < words.length) {
        response.write(chunk(words[i++], body.stream_options?.include_usage ? ',"usage":null' : ''));
        return CHUNK_MS ? setTimeout(tick, CHUNK_MS) : tick();
      }
      if (body.stream_options?.include_usage) {
        response.write('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}\n\n');
      }
      response.end('data: [DONE]\n\n');
    };
    tick();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}/v1` })}\n`));

// A sub-agent: it knows only its own token (SUB_AGENT_TOKEN), which the orchestrator exchanged for it, and
// calls Serika's Chat Completions API with the official openai SDK, as any OpenAI-compatible client would.
import OpenAI from 'openai';

const { SERIKA_ISSUER, SUB_AGENT_TOKEN, SUB_AGENT_NAME, TASK, SERIKA_MODEL = 'gpt-4o-mini' } = process.env;
const openai = new OpenAI({ baseURL: `${SERIKA_ISSUER}/api/openai/v1/oauth`, apiKey: SUB_AGENT_TOKEN });
const { data: completion, response } = await openai.chat.completions
  .create({ model: SERIKA_MODEL, messages: [{ role: 'user', content: TASK }], max_tokens: 200 })
  .withResponse();
// Serika says what remains of this sub-agent's slice (or the user's budget, whichever is tighter).
const left = response.headers.get('serika-budget-remaining-tokens');
console.log(`${SUB_AGENT_NAME}: ${completion.choices[0].message.content} (${completion.usage.total_tokens} tokens; ${left} left)`);

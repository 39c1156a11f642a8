import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Meter } from '../../src/generation/meter.js';
import { relayEvents } from '../../src/generation/relay.js';
import type { UpstreamResponse } from '../../src/generation/upstream.js';
import type { UsageEntry } from '../../src/generation/usage.js';

const WORD = 'data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}\n\n';
const USAGE = 'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n';
const DONE = 'data: [DONE]\n\n';

/** An upstream answer whose body yields these chunks and ends at once. */
const upstream = (chunks: string[]) => ({ statusCode: 200, headers: {}, body: Readable.from(chunks.map((c) => Buffer.from(c))) }) as unknown as UpstreamResponse;

/** A meter whose commit takes `ms`, logging when it has committed. */
function slowMeter(log: string[], ms: number): Meter {
  const record = async (entry: UsageEntry) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    log.push(`committed ${entry.status} ${entry.promptTokens}+${entry.completionTokens}`);
  };
  return new Meter({ principal: { userId: 'user_1', clientId: 'client_1', apiKeyId: null }, endpoint: 'chat.completions', model: 'm' }, record, Date.now);
}

async function relay(chunks: string[], appAskedUsage: boolean, log: string[]): Promise<void> {
  const out = relayEvents(upstream(chunks), slowMeter(log, 30), appAskedUsage, new AbortController().signal);
  out.on('data', (chunk: Buffer) => log.push(`sent ${chunk.toString().trim()}`));
  await new Promise((resolve, reject) => out.on('end', resolve).on('error', reject));
  log.push('end');
}

describe('the streamed chat relay', () => {
  it('holds [DONE] and the end of the reply until the usage has committed, though the upstream ends meanwhile', async () => {
    const log: string[] = [];
    // The usage chunk, [DONE] and the upstream's end arrive together, as most upstreams send them.
    await relay([WORD, USAGE + DONE], false, log);
    expect(log).toEqual([`sent ${WORD.trim()}`, 'committed 200 3+4', `sent ${DONE.trim()}`, 'end']);
  });

  it('passes the usage chunk on when the app asked for it, and charges once when the upstream sends no [DONE]', async () => {
    const log: string[] = [];
    await relay([WORD, USAGE], true, log);
    expect(log).toEqual([`sent ${WORD.trim()}`, `sent ${USAGE.trim()}`, 'committed 200 3+4', 'end']);
  });
});

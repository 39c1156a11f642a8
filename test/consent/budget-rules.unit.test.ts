import { describe, expect, it } from 'vitest';
import { parseAuthorizationDetails as parseDetails } from '../../src/consent/authorization-details.js';
import { IMAGE_PART_MOST_TOKENS, InvalidAuthorizationDetails, LOW_DETAIL_IMAGE_PART_MOST_TOKENS, periodEnd, periodStart, promptBound, promptEstimate } from '../../src/consent/budget-rules.js';
import { AppError } from '../../src/errors.js';
import { asking, fileData, fileId, image, video } from '../helpers/chat-bodies.js';

/** The budget the details ask for (the parser also reads serika_characters, SPEC §15). */
const parseAuthorizationDetails = (raw: string) => parseDetails(raw).budget;

describe('budget rules (SPEC §10, RFC 9396)', () => {
  it('reads serika_budget details, month by default', () => {
    expect(parseAuthorizationDetails('[{"type":"serika_budget","tokens":100000,"images":20,"period":"month"}]')).toEqual({ tokens: 100000, images: 20, period: 'month' });
    expect(parseAuthorizationDetails('[{"type":"serika_budget","images":3}]')).toEqual({ tokens: null, images: 3, period: 'month' });
    expect(parseAuthorizationDetails('[]')).toBeNull();
  });

  it.each([
    ['not json', '{'],
    ['an object', '{"type":"serika_budget","tokens":1}'],
    ['a wrong type', '[{"type":"payment","tokens":1}]'],
    ['no type', '[{"tokens":1}]'],
    ['a negative amount', '[{"type":"serika_budget","tokens":-1}]'],
    ['a fraction', '[{"type":"serika_budget","tokens":1.5}]'],
    ['a string amount', '[{"type":"serika_budget","tokens":"10"}]'],
    ['an unknown period', '[{"type":"serika_budget","tokens":1,"period":"week"}]'],
    ['nothing limited', '[{"type":"serika_budget","period":"day"}]'],
    ['two budgets', '[{"type":"serika_budget","tokens":1},{"type":"serika_budget","tokens":2}]'],
    ['1 MB', `[{"type":"serika_budget","tokens":1,"x":"${'x'.repeat(1_000_000)}"}]`],
  ])('%s → invalid_authorization_details', (_name, raw) => {
    expect(() => parseAuthorizationDetails(raw)).toThrow(InvalidAuthorizationDetails);
  });

  it('periods are calendar UTC; total never resets; the prompt estimate errs high', () => {
    const t = Date.UTC(2026, 10, 30, 23, 59, 59);
    expect(periodStart('day', t)).toBe(Date.UTC(2026, 10, 30));
    expect(periodEnd('day', periodStart('day', t))).toBe(Date.UTC(2026, 11, 1));
    expect(periodEnd('month', periodStart('month', t))).toBe(Date.UTC(2026, 11, 1));
    expect(periodEnd('month', Date.UTC(2026, 11, 1))).toBe(Date.UTC(2027, 0, 1));
    expect(periodEnd('total', 0)).toBeNull();
    expect(promptEstimate({ messages: [{ role: 'user', content: 'héllo' }] })).toBe(Math.ceil(Buffer.byteLength('{"messages":[{"role":"user","content":"héllo"}]}') / 2));
    // The whole body: tools, functions and response_format reach the prompt too.
    const tools = [{ type: 'function', function: { name: 'f', description: 'x'.repeat(200_000) } }];
    expect(promptEstimate({ messages: [], tools })).toBeGreaterThan(100_000);
  });
});

describe('promptBound: the prompt estimate of a call a token limit applies to', () => {
  it('adds the most an image part can cost to the byte estimate; text, refusal and audio parts add nothing', () => {
    expect(IMAGE_PART_MOST_TOKENS).toBe(2_833 + 8 * 5_667);
    expect(LOW_DETAIL_IMAGE_PART_MOST_TOKENS).toBe(Math.ceil(1_536 * 2.46));
    const plain = { messages: [{ role: 'user', content: 'hi' }] };
    expect(promptBound(plain)).toBe(promptEstimate(plain));
    const texts = { messages: [{ role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }] };
    expect(promptBound(texts)).toBe(promptEstimate(texts));
    // Its base64 is in the bytes: ≥ 2/3 of a token per audio byte, far above ~10 audio tokens a second.
    const audio = asking({ type: 'input_audio', input_audio: { data: 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=', format: 'wav' } });
    expect(promptBound(audio)).toBe(promptEstimate(audio));
    const images = asking(image('high'), image(), image('auto'), image('low'));
    expect(promptBound(images)).toBe(promptEstimate(images) + 3 * IMAGE_PART_MOST_TOKENS + LOW_DETAIL_IMAGE_PART_MOST_TOKENS);
    // Bodies the upstream will refuse are left to it.
    expect(promptBound({ messages: 'hi' })).toBe(promptEstimate({ messages: 'hi' }));
  });

  it.each([
    ['a file_id', fileId, 'messages[1].content[1]', 'cannot include files'],
    ['file_data', fileData, 'messages[1].content[1]', 'cannot include files'],
    ['an unknown part', video, 'messages[1].content[1]', "cannot include 'input_video' content"],
    ['a part that is not an object', 'hello', 'messages[1].content[1]', 'cannot include a content part without a type'],
  ])('%s cannot be bounded: the 400 names it', (_, part, param, words) => {
    const bound = promptBound(asking(part));
    expect(bound).toBeInstanceOf(AppError);
    expect(bound).toMatchObject({ status: 400, code: 'invalid_value', param });
    expect((bound as AppError).message).toContain(`Invalid '${param}': a call with a spending limit ${words}`);
  });
});

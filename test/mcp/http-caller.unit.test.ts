import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpCaller } from '../../src/mcp/http-caller.js';

const grant = { userId: 'u1', clientId: 'c1', username: 'ann', avatar: null, scopeList: ['profile', 'characters'] };

/** The parts of a response the caller watches. */
function response(state: { destroyed?: boolean; writableFinished?: boolean } = {}) {
  return Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false, ...state });
}

describe('HttpCaller (the caller of one MCP call over HTTP)', () => {
  it('carries who calls, with its signal on the prototype (no getter per call)', () => {
    const caller = new HttpCaller(grant, response() as unknown as ServerResponse);
    expect(caller).toMatchObject({ userId: 'u1', clientId: 'c1', username: 'ann', avatar: null });
    expect(Object.getOwnPropertyDescriptor(caller, 'signal')).toBeUndefined();
    expect(typeof Object.getOwnPropertyDescriptor(HttpCaller.prototype, 'signal')?.get).toBe('function');
  });

  it('sees the characters of its grant with the characters scope, and none without it (chat with character_id too)', () => {
    const respond = () => response() as unknown as ServerResponse;
    expect(new HttpCaller({ ...grant, characters: ['ch_1'] }, respond()).characters).toEqual(['ch_1']);
    expect(new HttpCaller(grant, respond()).characters).toBeNull();
    expect(new HttpCaller({ ...grant, scopeList: ['generations'] }, respond()).characters).toEqual([]);
  });

  it('makes its signal only when asked, once, and aborts it when the connection closes before the answer', () => {
    const raw = response();
    const caller = new HttpCaller(grant, raw as unknown as ServerResponse);
    expect(raw.listenerCount('close')).toBe(0);
    const signal = caller.signal;
    expect(caller.signal).toBe(signal);
    expect(raw.listenerCount('close')).toBe(1);
    expect(signal.aborted).toBe(false);
    raw.emit('close');
    expect(signal.aborted).toBe(true);
  });

  it('does not abort after the answer was written, and is aborted at once when the connection is already gone', () => {
    const finished = response();
    const answered = new HttpCaller(grant, finished as unknown as ServerResponse).signal;
    finished.writableFinished = true;
    finished.emit('close');
    expect(answered.aborted).toBe(false);
    expect(new HttpCaller(grant, response({ destroyed: true }) as unknown as ServerResponse).signal.aborted).toBe(true);
  });
});

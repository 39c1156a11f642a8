import { describe, expect, it } from 'vitest';
import { SseSplitter } from '../../src/generation/sse.js';

const bytes = (text: string) => new TextEncoder().encode(text);

/** The relay forwards each event byte for byte and reads its joined `data` (server-sent events, WHATWG HTML §9.2.6). */
describe('SseSplitter', () => {
  it('reads one data line per event, with or without the space after the colon', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(bytes('data: {"a":1}\n\ndata:[DONE]\n\n'))).toEqual([
      { raw: 'data: {"a":1}\n\n', data: '{"a":1}' },
      { raw: 'data:[DONE]\n\n', data: '[DONE]' },
    ]);
  });

  it('joins several data lines, keeps only one leading space, and ignores comments and other fields', () => {
    const splitter = new SseSplitter();
    const raw = ': keep-alive\nevent: message\ndata:  two spaces\ndata: second\nid: 7\n\n';
    expect(splitter.push(bytes(raw))).toEqual([{ raw, data: ' two spaces\nsecond' }]);
  });

  it('takes CRLF and CR line ends, and an event with no data line has none', () => {
    const splitter = new SseSplitter();
    expect(splitter.push(bytes('data: x\r\n\r\n: ping\r\rdata: y\r\r'))).toEqual([
      { raw: 'data: x\r\n\r\n', data: 'x' },
      { raw: ': ping\r\r', data: null },
      { raw: 'data: y\r\r', data: 'y' },
    ]);
  });

  it('waits for the blank line across chunks, a character split between chunks included, and gives the rest at the end', () => {
    const splitter = new SseSplitter();
    const euro = bytes('data: 5 €\n\ndata: tail');
    expect(splitter.push(euro.slice(0, 10))).toEqual([]);
    expect(splitter.push(euro.slice(10))).toEqual([{ raw: 'data: 5 €\n\n', data: '5 €' }]);
    expect(splitter.end()).toEqual([{ raw: 'data: tail\n\n', data: 'tail' }]);
  });
});

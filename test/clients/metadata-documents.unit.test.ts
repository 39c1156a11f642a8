import { describe, expect, it } from 'vitest';
import { documentUrlProblem, freshFor, isDocumentClientId } from '../../src/clients/metadata-documents.js';

describe('client ID metadata document URLs', () => {
  it.each([
    ['http://app.example.com/client.json', 'must be an https URL'],
    ['https://app.example.com/client.json#frag', 'fragment'],
    ['https://user:pw@app.example.com/client.json', 'user name'],
    ['https://app.example.com/a/../client.json', 'path segments'],
    ['https://app.example.com/./client.json', 'path segments'],
    ['https://app.example.com/%2e%2e/client.json', 'path segments'],
    ['https://app.example.com/', 'must have a path'],
    ['https://app.example.com', 'must have a path'],
    ['https://APP.example.com/client.json', 'normal form'],
  ])('%s → %s', (url, problem) => {
    expect(documentUrlProblem(url, false)).toContain(problem);
  });

  it('takes an https URL with a path (and http only with CIMD_ALLOW_PRIVATE)', () => {
    expect(documentUrlProblem('https://app.example.com/oauth/client.json', false)).toBeNull();
    expect(documentUrlProblem('https://app.example.com/client?v=2', false)).toBeNull();
    expect(documentUrlProblem('http://127.0.0.1:8080/client.json', true)).toBeNull();
    expect(isDocumentClientId('client_abc')).toBe(false);
    expect(isDocumentClientId('HTTPS://x/y')).toBe(true);
  });

  it('keeps a document as its Cache-Control says, within 5 minutes and 24 hours', () => {
    expect(freshFor(null)).toBe(300_000);
    expect(freshFor('no-store')).toBe(300_000);
    expect(freshFor('max-age=60')).toBe(300_000);
    expect(freshFor('public, max-age=3600')).toBe(3_600_000);
    expect(freshFor('max-age=9999999')).toBe(86_400_000);
  });
});

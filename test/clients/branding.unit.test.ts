import { describe, expect, it } from 'vitest';
import { brandingUriProblem, contactsProblem } from '../../src/clients/branding.js';
import { sniffImage } from '../../src/clients/logos.js';
import { PNG } from '../helpers/logo-server.js';

describe('client branding rules (SPEC §12)', () => {
  it('judges an image by its first bytes, not by what it claims', () => {
    expect(sniffImage(PNG)).toBe('image/png');
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]))).toBe('image/jpeg');
    expect(sniffImage(Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]))).toBe('image/webp');
    expect(sniffImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffImage(Buffer.from('GIF89a'))).toBeNull();
    expect(sniffImage(PNG.subarray(0, 7))).toBeNull();
  });

  it('takes https URIs, and http only where CIMD_ALLOW_PRIVATE allows it', () => {
    expect(brandingUriProblem('https://app.example.com/logo.png', false)).toBeNull();
    expect(brandingUriProblem('http://app.example.com/logo.png', false)).toMatch(/https/);
    expect(brandingUriProblem('http://127.0.0.1:8080/logo.png', true)).toBeNull();
    expect(brandingUriProblem('javascript:alert(1)', true)).not.toBeNull();
    expect(brandingUriProblem('https://a b.example/', false)).not.toBeNull();
    expect(brandingUriProblem('https://user:pw@app.example.com/', false)).toMatch(/user name/);
    expect(brandingUriProblem('/relative', false)).not.toBeNull();
  });

  it('takes plain addr-spec contacts only', () => {
    expect(contactsProblem(['dev@app.example.com', 'ops+oncall@app.example.com'])).toBeNull();
    expect(contactsProblem(['Dev <dev@app.example.com>'])).not.toBeNull();
    expect(contactsProblem(['dev@app.example.com, other@app.example.com'])).not.toBeNull();
    expect(contactsProblem([' dev@app.example.com'])).not.toBeNull();
    expect(contactsProblem(Array.from({ length: 11 }, (_, i) => `d${i}@app.example.com`))).toMatch(/at most 10/);
  });
});

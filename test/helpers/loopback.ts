import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * One HTTP request with node:http, byte for byte (fetch would normalise some
 * of what these tests send), optionally from a chosen loopback source
 * address (all of 127.0.0.0/8 is local), so a test can be many IPs.
 */
export function rawRequest(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, localAddress: options.localAddress, headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

/** A form POST from a chosen loopback source address. */
export function postFrom(localAddress: string, url: string, body: string): Promise<RawReply> {
  return rawRequest('POST', url, { localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
}

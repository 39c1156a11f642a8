import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** A form POST from a chosen loopback source address (all of 127.0.0.0/8 is local), so a test can be many IPs. */
export function postFrom(localAddress: string, url: string, body: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

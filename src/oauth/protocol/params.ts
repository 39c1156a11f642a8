import { isFormBody } from '../../http/form-body.js';
import { invalidRequest } from './errors.js';

/** RFC 8707 §2: resource may be given several times, one per resource. */
const REPEATABLE = new Set(['resource']);

/**
 * Request parameters of an OAuth endpoint, from the query string or a form
 * or JSON body. Repeats are kept so endpoints can refuse them (RFC 6749
 * §3.1, §3.2); empty values count as absent (AZ-16).
 */
export class OAuthParams {
  private constructor(private readonly values: Map<string, string[]>) {}

  static fromQuery(rawUrl: string): OAuthParams {
    const q = rawUrl.indexOf('?');
    const values = new Map<string, string[]>();
    if (q !== -1) {
      for (const [name, value] of new URLSearchParams(rawUrl.slice(q + 1))) values.set(name, [...(values.get(name) ?? []), value]);
    }
    return new OAuthParams(values);
  }

  /**
   * A parsed form body (a repeated field is an array, kept so it can be
   * refused) or a JSON object, whose every member must be a string: an
   * array or number is invalid_request, never read as a value.
   */
  static fromBody(body: unknown): OAuthParams {
    const values = new Map<string, string[]>();
    if (body === undefined || body === null) return new OAuthParams(values);
    if (typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('The request body must be a form or a JSON object.');
    const form = isFormBody(body);
    for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
      if (typeof value === 'string') values.set(name, [value]);
      else if (form && Array.isArray(value)) values.set(name, value as string[]);
      else throw invalidRequest(`Parameter ${name.replace(/[^\w.-]/g, '?').slice(0, 40)} must be a string.`);
    }
    return new OAuthParams(values);
  }

  get(name: string): string | undefined {
    const first = this.values.get(name)?.[0];
    return first === undefined || first === '' ? undefined : first;
  }

  /** Every value of a parameter that may repeat (RFC 8707 `resource`), empty ones left out. */
  all(name: string): string[] {
    return (this.values.get(name) ?? []).filter((v) => v !== '');
  }

  isRepeated(name: string): boolean {
    return (this.values.get(name)?.length ?? 0) > 1;
  }

  repeated(): string[] {
    const names: string[] = [];
    for (const [name, v] of this.values) if (v.length > 1 && !REPEATABLE.has(name)) names.push(name);
    return names;
  }

  /** RFC 6749 §3.1, §3.2: request and response parameters MUST NOT be included more than once (RFC 8707's resource excepted). */
  rejectRepeats(): this {
    const repeated = this.repeated();
    if (repeated.length > 0) throw invalidRequest(`Parameters may not repeat: ${repeated.join(', ').slice(0, 100)}.`);
    return this;
  }

  names(): string[] {
    return [...this.values.keys()];
  }
}

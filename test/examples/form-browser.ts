import { PASSWORD } from '../helpers/oauth.js';

/** Where a browser ended up: the last URL after every redirect, its status and body. */
export interface Page {
  url: URL;
  status: number;
  headers: Headers;
  html: string;
}

const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const attribute = (tag: string, name: string) => {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match ? decode(match[1]!) : undefined;
};

/** The opening tag's attributes of the button whose text (inner tags aside) is `text`. */
function pressedIn(form: string, text: string): string | undefined {
  return [...form.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button>/g)].find((b) => decode(b[2]!.replace(/<[^>]*>/g, '')).trim() === text)?.[1];
}

/**
 * A browser without JavaScript for the matrix of server-side apps: it follows redirects across
 * origins, keeps cookies per host (as browsers do, whatever the port: RFC 6265 §8.5), and submits
 * the forms the pages really serve, with their hidden fields and the button pressed. The apps run
 * on 127.0.0.1 and Serika at its PUBLIC_URL, http://localhost:…, so neither sees the other's cookies.
 */
export class FormBrowser {
  private readonly jars = new Map<string, Map<string, string>>();
  /** Every URL visited, in order (redirects included). */
  readonly visited: URL[] = [];

  /** GET url and follow redirects. */
  async open(url: string | URL): Promise<Page> {
    return this.follow(new URL(url), { method: 'GET' });
  }

  /**
   * Presses `button` (its text) in the page's form that has it (the one posting to `action`, when
   * given), with the form's fields and `fields` over them.
   */
  async submit(page: Page, button: string, { fields = {}, action: path }: { fields?: Record<string, string>; action?: string } = {}): Promise<Page> {
    const form = [...page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].find((f) => pressedIn(f[2]!, button) !== undefined && (path === undefined || attribute(f[1]!, 'action') === path));
    if (!form) throw new Error(`no form with a "${button}" button${path ? ` posting to ${path}` : ''} at ${page.url}:\n${page.html}`);
    const values = new URLSearchParams();
    for (const [input] of form[2]!.matchAll(/<input\b[^>]*>/g)) {
      const type = attribute(input, 'type') ?? 'text';
      const name = attribute(input, 'name');
      if (!name || name in fields) continue;
      if (type === 'hidden' || ((type === 'radio' || type === 'checkbox') && /\schecked\b/.test(input)) || (type === 'text' && attribute(input, 'value'))) values.append(name, attribute(input, 'value') ?? '');
    }
    const pressed = pressedIn(form[2]!, button)!;
    const name = attribute(pressed, 'name');
    if (name) values.set(name, attribute(pressed, 'value') ?? '');
    for (const [key, value] of Object.entries(fields)) values.set(key, value);
    const action = new URL(attribute(form[1]!, 'action') ?? page.url.href, page.url);
    return this.follow(action, { method: 'POST', body: values.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: page.url.origin } });
  }

  /** On Serika's sign-in page: signs in as `username`, and allows the app on the consent page if one is shown. */
  async signInAndAllow(page: Page, username: string): Promise<Page> {
    if (!page.html.includes('Sign in to Serika')) throw new Error(`not the sign-in page: ${page.url}\n${page.html}`);
    const next = await this.submit(page, 'Sign in', { fields: { username, password: PASSWORD } });
    return next.html.includes('wants to access your Serika account') ? this.submit(next, 'Allow') : next;
  }

  /** On Serika's "Sign out of Serika?" page: confirms. */
  async confirmSignOut(page: Page): Promise<Page> {
    if (!page.html.includes('Sign out of Serika?')) throw new Error(`not the sign-out page: ${page.url}\n${page.html}`);
    return this.submit(page, 'Sign out', { action: new URL(page.url).pathname });
  }

  private cookieHeader(url: URL): string | undefined {
    const jar = this.jars.get(url.hostname);
    return jar?.size ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  }

  private keep(url: URL, headers: Headers) {
    let jar = this.jars.get(url.hostname);
    if (!jar) this.jars.set(url.hostname, (jar = new Map()));
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0\b/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
  }

  private async follow(url: URL, init: { method: string; body?: string; headers?: Record<string, string> }): Promise<Page> {
    for (let hops = 0; hops < 20; hops++) {
      this.visited.push(url);
      const cookie = this.cookieHeader(url);
      const response = await fetch(url, { ...init, headers: { ...init.headers, ...(cookie ? { cookie } : {}) }, redirect: 'manual' });
      this.keep(url, response.headers);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, url);
        // 307/308 repeat the request; 301/302/303 become a GET (Fetch standard, as browsers do).
        if (response.status !== 307 && response.status !== 308) init = { method: 'GET' };
        url = next;
        continue;
      }
      return { url, status: response.status, headers: response.headers, html: await response.text() };
    }
    throw new Error(`too many redirects, last ${url}`);
  }
}

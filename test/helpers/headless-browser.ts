/**
 * A test "browser" for OAuth flows: follows redirects with a cookie jar and submits the first form
 * of each page, filling oidc-provider's devInteractions login form (any login and password works)
 * and confirming its consent and device pages. It stops at the first page without a form: our
 * callback page, or oidc-provider's device success page. Use `open` as AuthOptions.openUrl.
 */

export interface HeadlessBrowserOptions {
  /** The account id typed into the login form; it becomes the token's `sub`. */
  login?: string;
  /** Follow the login page's "[ Cancel ]" link instead of signing in (the AS answers access_denied). */
  deny?: boolean;
  /** Give up after this many requests (a loop between pages is a bug in the test). */
  maxSteps?: number;
  /**
   * Do not follow a redirect to a URL starting with this (the loopback callback): the page then has
   * that URL and status 0, as when the browser runs on another machine and the address fails to load.
   */
  stopAt?: string;
}

export interface Page {
  url: string;
  status: number;
  body: string;
}

interface Form {
  action: string;
  method: string;
  fields: [string, string][];
}

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_m, name: string) => entities[name] ?? '');
}

function attributes(tag: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    const name = m[1]!.toLowerCase();
    if (!result.has(name)) result.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return result;
}

/** The first form of an HTML page with its inputs, or undefined. */
export function firstForm(html: string, baseUrl: string): Form | undefined {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) return undefined;
  const attrs = attributes(match[1]!);
  const fields: [string, string][] = [];
  for (const input of match[2]!.matchAll(/<input\b([^>]*)>/gi)) {
    const a = attributes(input[1]!);
    const name = a.get('name');
    if (name) fields.push([name, a.get('value') ?? '']);
  }
  return {
    action: new URL(attrs.get('action') || baseUrl, baseUrl).href,
    method: (attrs.get('method') ?? 'get').toUpperCase(),
    fields,
  };
}

export class HeadlessBrowser {
  /** Every URL requested, in order. */
  readonly visited: string[] = [];
  /** The navigation started by the last `open`, resolving to the page it ended on. */
  lastNavigation: Promise<Page> | undefined;
  private readonly cookies = new Map<string, Map<string, string>>();
  private readonly options: Required<HeadlessBrowserOptions>;

  constructor(options: HeadlessBrowserOptions = {}) {
    this.options = { login: 'alice', deny: false, maxSteps: 25, stopAt: '', ...options };
  }

  /** AuthOptions.openUrl: starts navigating and returns at once, as a real browser launch does. */
  readonly open = async (url: string): Promise<void> => {
    this.lastNavigation = this.navigate(url);
    // Keep an unhandled failure visible without crashing the test run; tests await lastNavigation.
    this.lastNavigation.catch(() => undefined);
  };

  /** Loads `url` and goes on (redirects, forms) until a page without a form. */
  async navigate(url: string): Promise<Page> {
    let request: { url: string; method: string; body?: string } = { url, method: 'GET' };
    for (let step = 0; step < this.options.maxSteps; step++) {
      const response = await this.fetch(request);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, request.url).href;
        if (this.options.stopAt && next.startsWith(this.options.stopAt)) return { url: next, status: 0, body: '' };
        const keepMethod = response.status === 307 || response.status === 308;
        request = keepMethod ? { ...request, url: new URL(location, request.url).href } : { url: new URL(location, request.url).href, method: 'GET' };
        continue;
      }
      const body = await response.text();
      const page = { url: request.url, status: response.status, body };
      if (this.options.deny) {
        const cancel = /<a href="([^"]*\/abort)"/.exec(body);
        if (cancel) {
          request = { url: new URL(decodeEntities(cancel[1]!), request.url).href, method: 'GET' };
          continue;
        }
      }
      const form = firstForm(body, request.url);
      if (!form) return page;
      const params = new URLSearchParams();
      for (const [name, value] of form.fields) {
        if (name === 'login' && !value) params.append(name, this.options.login);
        else if (name === 'password' && !value) params.append(name, 'any-password');
        else params.append(name, value);
      }
      request = form.method === 'POST'
        ? { url: form.action, method: 'POST', body: params.toString() }
        : { url: `${form.action.split('?')[0]}?${params}`, method: 'GET' };
    }
    throw new Error(`headless browser: gave up after ${this.options.maxSteps} requests, last ${request.url}`);
  }

  private async fetch(request: { url: string; method: string; body?: string }): Promise<Response> {
    this.visited.push(request.url);
    const url = new URL(request.url);
    const headers = new Headers({ accept: 'text/html' });
    const jar = this.cookies.get(url.hostname);
    if (jar?.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    if (request.body !== undefined) headers.set('content-type', 'application/x-www-form-urlencoded');
    const response = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.storeCookie(url.hostname, line);
    return response;
  }

  private storeCookie(host: string, line: string): void {
    const [pair = '', ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k = '', v = ''] = a.split('=').map((s) => s.trim());
      if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
      return false;
    });
    let jar = this.cookies.get(host);
    if (!jar) this.cookies.set(host, (jar = new Map()));
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

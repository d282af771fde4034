/**
 * The fetch used for every outbound HTTP request. With HTTPS_PROXY / HTTP_PROXY set it is undici's
 * fetch through an EnvHttpProxyAgent (which also honours NO_PROXY); without, Node's own fetch, so
 * the common case loads no extra code.
 */
export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

const proxyVariables = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'] as const;

export function proxyConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return proxyVariables.some((name) => Boolean(env[name]));
}

export async function createFetch(env: NodeJS.ProcessEnv = process.env): Promise<FetchLike> {
  if (!proxyConfigured(env)) return globalThis.fetch;
  const undici = await import('undici');
  const dispatcher = new undici.EnvHttpProxyAgent({
    httpProxy: env.HTTP_PROXY ?? env.http_proxy,
    httpsProxy: env.HTTPS_PROXY ?? env.https_proxy,
    noProxy: env.NO_PROXY ?? env.no_proxy,
  });
  return (url, init) =>
    undici.fetch(url, { ...(init as Parameters<typeof undici.fetch>[1]), dispatcher }) as unknown as Promise<Response>;
}

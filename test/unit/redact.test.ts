import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { argumentDigestKey, describeCommandSafely, digestArguments, isSecretName, recordArguments, REDACTED, redactString, redactUrl, redactValue, redactValues, urlSecretValues } from '../../src/redact.js';

// Token-shaped test values are built at run time, so this file holds nothing a secret scanner flags.
const repeat = (s: string, n: number) => s.repeat(n);
const GHP = `ghp_${repeat('aB3', 12)}`;
const JWT = `eyJ${repeat('hbGci', 4)}.eyJ${repeat('zdWIi', 4)}.${repeat('s1g_-', 6)}`;

describe('isSecretName', () => {
  it('knows the usual secret member, header and flag names, in any case', () => {
    for (const name of [
      'authorization', 'Authorization', 'Proxy-Authorization', 'auth',
      'api_key', 'API_KEY', 'api-key', 'apiKey', 'apikey', 'OPENAI_API_KEY', 'x-api-key', 'X-Api-Key',
      'token', 'GITHUB_TOKEN', 'x-auth-token', 'access_token', 'accessToken', 'refresh-token', 'id_token',
      'secret', 'client_secret', 'clientSecret', 'password', 'DB_PASSWORD', 'passwd', 'pwd',
      'private_key', 'privateKey', 'credential', 'credentials', 'cookie', 'Set-Cookie', 'session_id', 'sessionId',
    ]) expect(isSecretName(name), name).toBe(true);
  });

  it('leaves names that only contain such a word alone', () => {
    for (const name of ['author', 'oauth', 'authority', 'max_tokens', 'tokens', 'tokenizer', 'secretary', 'keyboard', 'key', 'path', 'name', '']) {
      expect(isSecretName(name), name).toBe(false);
    }
  });

  // Regression test, fixed since (redact.ts:16, SECRET_NAME): a secret word counts only at the start of the name or after
  // - _ or ., and only the listed compounds end a name. So camelCase compounds (githubToken,
  // openaiApiKey, dbPassword, bearerToken) and common names ending in "key" (AWS_SECRET_ACCESS_KEY,
  // SECRET_KEY, access_key) are not secret: `--audit-args full` records their values, and
  // describeCommandSafely prints `AWS_SECRET_ACCESS_KEY=<the key>` (see below).
  it('knows secret names in camelCase compounds and names ending in a key', () => {
    const missed = ['githubToken', 'openaiApiKey', 'dbPassword', 'bearerToken', 'sessionToken', 'AWS_SECRET_ACCESS_KEY', 'aws_secret_access_key', 'SECRET_KEY', 'access_key', 'passphrase'].filter(
      (name) => !isSecretName(name),
    );
    expect(missed).toEqual([]);
  });
});

describe('redactString', () => {
  it.each([
    ['a bearer token', 'Authorization: Bearer abc.DEF-1_2~3+4/5==', 'Authorization: [REDACTED]'],
    ['a lower-case bearer token', 'bearer abc123', '[REDACTED]'],
    ['basic credentials', 'Authorization: Basic dXNlcjpwYXNzd29yZA==', 'Authorization: [REDACTED]'],
    ['a JWT', `token is ${JWT} ok`, 'token is [REDACTED] ok'],
    ['an sk- key', `key sk-${repeat('ant-api03-', 3)} end`, 'key [REDACTED] end'],
    ['a pk- and an rk- key', `pk-${repeat('x', 16)} rk-${repeat('y', 20)}`, '[REDACTED] [REDACTED]'],
    ['a GitHub token', `use ${GHP}.`, 'use [REDACTED].'],
    ['other GitHub token kinds', `gho_${repeat('a', 36)} ghs_${repeat('b', 36)} ghu_${repeat('c', 36)} ghr_${repeat('d', 36)}`, '[REDACTED] [REDACTED] [REDACTED] [REDACTED]'],
    ['a fine-grained GitHub token', `github_pat_${repeat('11AB_', 10)}`, '[REDACTED]'],
    ['a GitLab token', `glpat-${repeat('x1_-', 5)}`, '[REDACTED]'],
    ['a Slack token', `xoxb-123456789012-${repeat('a', 12)}`, '[REDACTED]'],
    ['an AWS access key id', `id=AKIA${repeat('IOSFODNN', 2)};`, 'id=[REDACTED];'],
    ['a Google API key', `key=AIza${repeat('Sy_0-', 6)}abcde&x=1`, 'key=[REDACTED]&x=1'],
    ['a PEM private key', `before\n-----BEGIN RSA PRIVATE KEY-----\nMIIE${repeat('abc', 5)}\n-----END RSA PRIVATE KEY-----\nafter`, 'before\n[REDACTED]\nafter'],
    ['an unmarked PEM private key', `-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----`, '[REDACTED]'],
  ])('replaces %s', (_what, input, expected) => {
    expect(redactString(input)).toBe(expected);
  });

  it('leaves ordinary text alone, and short or embedded look-alikes', () => {
    for (const text of [
      'Read /etc/hosts and summarise it in 3 bullet points.',
      'the risk-assessment-framework-document is on the desk-organiser-shelf',
      'sk-short and ghp_short and AKIA1234 and AIzaShort',
      'eyJhbGciOiJIUzI1NiJ9 alone is just base64 of a header',
      '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----',
      '',
    ]) expect(redactString(text)).toBe(text);
  });

  // Regression test, fixed since (redact.ts:29): the Google API key shape ends in \b, but the key alphabet includes "-",
  // which is not a word character: a key whose last character is "-" followed by a space, quote or
  // end of text is not matched, and is recorded as it is.
  it('replaces a Google API key that ends in "-"', () => {
    const key = `AIza${repeat('Sy_0A', 6)}abcd-`; // 4 + 35 characters, the last one "-"
    expect(key).toHaveLength(39);
    expect(redactString(`key ${key} end`)).toBe('key [REDACTED] end');
  });
});

describe('redactValue', () => {
  it('replaces secret members and token-shaped strings at any depth, in a copy', () => {
    const input = {
      query: 'weather',
      headers: { Authorization: 'Basic dXNlcjpwYXNzd29yZA==', accept: 'json' },
      list: [{ token: 'abc', n: 1 }, `see ${GHP}`, 7, true, null],
      credentials: { user: 'u', pass: 'p' },
      password: '',
      secret: null,
    };
    const copy = JSON.parse(JSON.stringify(input)) as unknown;
    expect(redactValue(input)).toEqual({
      query: 'weather',
      headers: { Authorization: REDACTED, accept: 'json' },
      list: [{ token: REDACTED, n: 1 }, `see ${REDACTED}`, 7, true, null],
      credentials: REDACTED, // a secret member hides its whole value
      password: '', // nothing to hide
      secret: null,
    });
    expect(input).toEqual(copy); // not mutated
  });

  it('passes scalars through and stops past depth 32', () => {
    expect(redactValue(5)).toBe(5);
    expect(redactValue(undefined)).toBeUndefined();
    expect(redactValue(`x ${GHP}`)).toBe('x [REDACTED]');
    let deep: unknown = 'leaf';
    for (let i = 0; i < 40; i++) deep = [deep];
    let out = redactValue(deep);
    let depth = 0;
    while (Array.isArray(out)) {
      out = out[0];
      depth++;
    }
    expect([depth, out]).toEqual([33, '[TOO DEEP]']);
  });
});

describe('digestArguments and recordArguments', () => {
  it('digests the arguments as JSON, in the order sent', () => {
    const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    expect(digestArguments({ a: 1, b: 'x' })).toBe(sha('{"a":1,"b":"x"}'));
    expect(digestArguments({ b: 'x', a: 1 })).toBe(sha('{"b":"x","a":1}'));
    expect(digestArguments(undefined)).toBe(sha('null'));
  });

  it('gives nothing for none or absent arguments, a digest, or the redacted arguments', () => {
    expect(recordArguments({ a: 1 }, 'none')).toBeUndefined();
    expect(recordArguments(undefined, 'digest')).toBeUndefined();
    expect(recordArguments(undefined, 'full')).toBeUndefined();
    expect(recordArguments({ a: 1 }, 'digest')).toBe(digestArguments({ a: 1 }));
    expect(recordArguments({ a: 1, apiKey: 'k' }, 'full')).toEqual({ a: 1, apiKey: REDACTED });
  });
});

describe('describeCommandSafely', () => {
  it('hides secret flag values, secret assignments and token-shaped words, and keeps the rest', () => {
    expect(describeCommandSafely('npx', ['-y', '@scope/server@1.2', '--api-key', 'k-123', '--token=t-456', 'API_KEY=x', GHP, '--port', '8080', 'path/to/dir'])).toBe(
      'npx -y @scope/server@1.2 --api-key [REDACTED] --token=[REDACTED] API_KEY=[REDACTED] [REDACTED] --port 8080 path/to/dir',
    );
  });

  it('quotes words a shell would split or interpret', () => {
    expect(describeCommandSafely('node', ['my server.js', "it's", '$HOME', 'a;b', ''])).toBe('node "my server.js" "it\'s" "$HOME" "a;b" ""');
    expect(describeCommandSafely('curl', ['--header', 'Authorization: Bearer xyz', 'x\ny'])).toBe('curl --header "Authorization: [REDACTED]" "x\\ny"');
  });

  it('keeps a secret flag with nothing after it', () => {
    expect(describeCommandSafely('server', ['--password'])).toBe('server --password');
    expect(describeCommandSafely('server', ['-token', 'x'])).toBe('server -token [REDACTED]');
  });

  // Regression test, fixed since (follows from isSecretName above): the AWS secret key, in the form every docker/aws
  // command line uses, is printed in logs and written to every audit record's `server` member.
  it('hides AWS_SECRET_ACCESS_KEY=... and --aws-secret-access-key ...', () => {
    const secret = `wJalrXUtnFEMI/K7MDENG/${repeat('bPxRfi', 3)}`;
    expect(describeCommandSafely('docker', ['run', '-e', `AWS_SECRET_ACCESS_KEY=${secret}`, 'img', '--aws-secret-access-key', secret])).toBe(
      'docker run -e AWS_SECRET_ACCESS_KEY=[REDACTED] img --aws-secret-access-key [REDACTED]',
    );
  });
});

// Issue 14 #6: `full` mode missed URL passwords, `?key=`, npm_, sk_live_, hf_ and Azure AccountKey.
describe('redactString, the formats the attack review found', () => {
  it.each([
    ['postgres://admin:PASS@db:5432/app', 'postgres://admin:[REDACTED]@db:5432/app'],
    ['see https://u:p%40ss@host/x?y=1', 'see https://u:[REDACTED]@host/x?y=1'],
    ['https://maps.example/api?key=AIzaNotAGoogleShape123&q=paris', 'https://maps.example/api?key=[REDACTED]&q=paris'],
    ['https://h/cb?code=4242&state=s', 'https://h/cb?code=[REDACTED]&state=s'],
    ['https://h/x?access_token=abc#frag', 'https://h/x?access_token=[REDACTED]#frag'],
    ['https://blob.example/c?sv=2024&sig=abcDEF%2B123', 'https://blob.example/c?sv=2024&sig=[REDACTED]'],
    ['https://h/x?api_key=k1&token_type=Bearer', 'https://h/x?api_key=[REDACTED]&token_type=Bearer'],
    [`token npm_${'a1B2'.repeat(9)} here`, 'token [REDACTED] here'],
    [`stripe sk_live_${'x'.repeat(24)}`, 'stripe [REDACTED]'],
    [`restricted rk_test_${'Y'.repeat(24)}`, 'restricted [REDACTED]'],
    [`hf_${'Q'.repeat(34)}`, '[REDACTED]'],
    [`DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${'A'.repeat(86)}==;EndpointSuffix=core.windows.net`, 'DefaultEndpointsProtocol=https;AccountName=acct;[REDACTED];EndpointSuffix=core.windows.net'],
  ])('%s', (input, output) => {
    expect(redactString(input)).toBe(output);
  });

  it('leaves ordinary URLs and text alone', () => {
    for (const text of ['https://example.com/a?page=2&sort=name', 'mailto:someone@example.com', 'file:///tmp/x', 'a=b and key points', 'https://h/x?state=s1&iss=x']) {
      expect(redactString(text)).toBe(text);
    }
  });
});

describe('keyed argument digests (issue 14 #5)', () => {
  it('are HMACs under a key derived from the audit key: stable, but not the plain SHA-256 a guess could be checked against', () => {
    const key = argumentDigestKey(Buffer.alloc(32, 7));
    const digest = digestArguments({ code: '123456' }, key);
    expect(digest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(digestArguments({ code: '123456' }, key)).toBe(digest);
    expect(digest.slice('hmac-sha256:'.length)).not.toBe(digestArguments({ code: '123456' }).slice('sha256:'.length));
    expect(digestArguments({ code: '123456' }, argumentDigestKey(Buffer.alloc(32, 8)))).not.toBe(digest);
    expect(recordArguments({ code: '123456' }, 'digest', key)).toBe(digest);
  });
});

describe('redactUrl, urlSecretValues, redactValues', () => {
  it('shows a URL without its userinfo and with every query and fragment value replaced', () => {
    expect(redactUrl('https://user:pa%40ss@idp.example:8443/jwks?key=abc123&tenant=t1&flag#frag')).toBe('https://[REDACTED]@idp.example:8443/jwks?key=[REDACTED]&tenant=[REDACTED]&[REDACTED]#[REDACTED]');
    expect(redactUrl('https://idp.example/jwks')).toBe('https://idp.example/jwks');
    expect(redactUrl('https://token-only@idp.example/')).toBe('https://[REDACTED]@idp.example/');
    expect(redactUrl('not a url user:pass@x')).toBe('not a url user:pass@x');
  });

  it('scrubs the raw and decoded secret values from any text, longest first; short values stay', () => {
    const values = urlSecretValues('https://user:pa%40ss@idp.example/jwks?key=abc123&v=1');
    expect(values).toEqual(expect.arrayContaining(['pa%40ss', 'pa@ss', 'abc123', 'user']));
    expect(values).not.toContain('1');
    expect(redactValues('fetch https://user:pa%40ss@idp.example/jwks?key=abc123&v=1 failed (pa@ss)', values)).toBe('fetch https://[REDACTED]:[REDACTED]@idp.example/jwks?key=[REDACTED]&v=1 failed ([REDACTED])');
  });
});

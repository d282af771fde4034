import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import { expandEnv, parseHeaderLine, resolveHeaders } from '../../../src/transports/headers.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

const SECRET = 's3cr3t-token-value';
const env = { TOKEN: SECRET, TEAM: 'alpha', REGION: 'eu', EMPTY: '' };

const thrown = thrownAirlockError;

async function rejected(promise: Promise<unknown>): Promise<AirlockError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AirlockError);
    return error as AirlockError;
  }
  throw new Error('expected an AirlockError, the promise resolved');
}

/** No part of an error the user sees may carry a secret header value. */
function expectNoSecret(error: AirlockError, secret = SECRET): void {
  expect(error.message).not.toContain(secret);
  expect(error.hint ?? '').not.toContain(secret);
  expect(String(error)).not.toContain(secret);
}

describe('parseHeaderLine', () => {
  it('parses "Name: value"', () => {
    expect(parseHeaderLine('X-Api-Key: abc', env, '--header #1')).toEqual(['X-Api-Key', 'abc']);
  });

  it('parses "Name:value" without a space', () => {
    expect(parseHeaderLine('X-Api-Key:abc', env, '--header #1')).toEqual(['X-Api-Key', 'abc']);
    expect(parseHeaderLine('Authorization:${TOKEN}', env, '--header #1')).toEqual(['Authorization', SECRET]);
  });

  it('trims the name and the value and keeps inner spaces and colons', () => {
    expect(parseHeaderLine('  X-Url  :   http://a:b/c d  ', env, '--header #1')).toEqual(['X-Url', 'http://a:b/c d']);
  });

  it('accepts an empty value', () => {
    expect(parseHeaderLine('X-Empty:', env, '--header #1')).toEqual(['X-Empty', '']);
  });

  it('expands ${ENV}', () => {
    expect(parseHeaderLine('Authorization: Bearer ${TOKEN}', env, '--header #1')).toEqual(['Authorization', `Bearer ${SECRET}`]);
  });

  it('expands several variables, and an empty one to nothing', () => {
    expect(parseHeaderLine('X-Where: ${TEAM}-${REGION}${EMPTY}/${TEAM}', env, '--header #1')).toEqual(['X-Where', 'alpha-eu/alpha']);
  });

  it('leaves $NAME without braces alone', () => {
    expect(parseHeaderLine('X-Literal: $TOKEN', env, '--header #1')).toEqual(['X-Literal', '$TOKEN']);
  });

  it('refuses a missing variable with AIRLOCK_MISSING_ENV naming the variable and the header, not the value', () => {
    const error = thrown(() => parseHeaderLine('Authorization: Bearer ${TOKEN} ${NOT_SET}', env, '--header #1'));
    expect(error.code).toBe('AIRLOCK_MISSING_ENV');
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe('environment variable NOT_SET used in header Authorization is not set');
    expect(error.hint).toBe('Set NOT_SET in the environment of mcp-airlock (for Claude Desktop or Cursor: the "env" block of the server entry).');
    expect(error.message).not.toContain('Bearer');
    expectNoSecret(error);
  });

  it.each([['no colon at all'], [': value without a name'], ['Bad Name: value'], ['X(y): value'], ['']])('refuses %j with AIRLOCK_BAD_HEADER', (line) => {
    const error = thrown(() => parseHeaderLine(line, env, '--header #2'));
    expect(error.code).toBe('AIRLOCK_BAD_HEADER');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('--header #2: expected "Name: value", got a line without a valid header name');
    expect(error.hint).toBe('Write headers as --header "Authorization: Bearer ${TOKEN}" (quote the whole pair).');
  });

  it('does not echo a line without a name, which may be a bare secret', () => {
    expectNoSecret(thrown(() => parseHeaderLine(`Bearer ${SECRET}`, env, '--header #1')));
  });

  it.each([['Host'], ['Content-Length'], ['Mcp-Session-Id'], ['mcp-protocol-version'], ['TRANSFER-ENCODING'], ['Connection'], ['Last-Event-ID']])(
    'refuses the transport header %s',
    (name) => {
      const error = thrown(() => parseHeaderLine(`${name}: \${TOKEN}`, env, '--header #1'));
      expect(error.code).toBe('AIRLOCK_BAD_HEADER');
      expect(error.message).toBe(`--header #1: header "${name}" is managed by the transport and cannot be set`);
      expect(error.hint).toBe('Remove it; mcp-airlock sets it itself.');
      expectNoSecret(error);
    },
  );

  it.each([['\n'], ['\r'], ['\0']])('refuses a value that contains %j after expansion, without showing it', (bad) => {
    const sneaky = `${SECRET}${bad}X-Injected: 1`;
    const error = thrown(() => parseHeaderLine('Authorization: Bearer ${SNEAKY}', { SNEAKY: sneaky }, '--header #1'));
    expect(error.code).toBe('AIRLOCK_BAD_HEADER');
    expect(error.message).toBe('--header #1: the value of header "Authorization" contains a line break or NUL');
    expect(error.hint).toBe('Header values must be one line; check the environment variable it expands.');
    expectNoSecret(error);
  });
});

describe('expandEnv', () => {
  it('does not expand the result of an expansion again', () => {
    expect(expandEnv('${A}', { A: '${B}', B: 'no' }, 'header X')).toBe('${B}');
  });
});

describe('resolveHeaders', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airlock-headers-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns no headers for no sources', async () => {
    expect(await resolveHeaders({ headers: [], headerFiles: [] }, env)).toEqual({});
  });

  it('reads files, skips comments and blank lines, lowercases names, and lets flags override case-insensitively', async () => {
    const file = join(dir, 'headers.txt');
    await writeFile(file, ['# credentials', 'Authorization: Bearer ${TOKEN}', '', '   ', '  # indented comment', 'X-Team: ${TEAM}', 'X-Override: from-file', ''].join('\n'));
    const result = await resolveHeaders({ headers: ['x-OVERRIDE: from-flag', 'X-Extra:1'], headerFiles: [file] }, env);
    expect(result).toStrictEqual({ authorization: `Bearer ${SECRET}`, 'x-team': 'alpha', 'x-override': 'from-flag', 'x-extra': '1' });
  });

  it('reads CRLF files, and a later file overrides an earlier one', async () => {
    const first = join(dir, 'first.txt');
    const second = join(dir, 'second.txt');
    await writeFile(first, 'X-A: 1\r\nX-B: 1\r\n');
    await writeFile(second, 'x-b: 2\r\n');
    expect(await resolveHeaders({ headers: [], headerFiles: [first, second] }, env)).toStrictEqual({ 'x-a': '1', 'x-b': '2' });
  });

  it('a later flag overrides an earlier flag of the same name', async () => {
    expect(await resolveHeaders({ headers: ['X-A: 1', 'x-a: 2'], headerFiles: [] }, env)).toStrictEqual({ 'x-a': '2' });
  });

  it('refuses an unreadable file with AIRLOCK_HEADER_FILE naming the path', async () => {
    const missing = join(dir, 'missing.txt');
    const error = await rejected(resolveHeaders({ headers: [], headerFiles: [missing] }, env));
    expect(error.code).toBe('AIRLOCK_HEADER_FILE');
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe(`cannot read header file ${JSON.stringify(missing)}: ENOENT`);
    expect(error.hint).toBe('Check the path given to --header-file and that the file is readable.');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('refuses a directory given as a header file', async () => {
    const error = await rejected(resolveHeaders({ headers: [], headerFiles: [dir] }, env));
    expect(error.code).toBe('AIRLOCK_HEADER_FILE');
    expect(error.message).toBe(`cannot read header file ${JSON.stringify(dir)}: EISDIR`);
  });

  it('names the file and line of a bad entry without showing the line', async () => {
    const file = join(dir, 'bad.txt');
    await writeFile(file, `# ok\nX-A: 1\n${SECRET}\n`);
    const error = await rejected(resolveHeaders({ headers: [], headerFiles: [file] }, env));
    expect(error.code).toBe('AIRLOCK_BAD_HEADER');
    expect(error.message).toBe(`${file}:3: expected "Name: value", got a line without a valid header name`);
    expectNoSecret(error);
  });

  it('names the flag number of a bad --header', async () => {
    const error = await rejected(resolveHeaders({ headers: ['X-A: 1', 'Host: example.com'], headerFiles: [] }, env));
    expect(error.message).toBe('--header #2: header "Host" is managed by the transport and cannot be set');
  });

  it('refuses a missing variable in a file without showing other values', async () => {
    const file = join(dir, 'env.txt');
    await writeFile(file, 'Authorization: Bearer ${TOKEN}\nX-Key: ${TOKEN}${NOT_SET}\n');
    const error = await rejected(resolveHeaders({ headers: [], headerFiles: [file] }, env));
    expect(error.code).toBe('AIRLOCK_MISSING_ENV');
    expect(error.message).toBe(`environment variable NOT_SET used in header X-Key (${file}:2) is not set`);
    expectNoSecret(error);
  });
});

import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { collect, formatSeconds, formatSize, parseLogLevel, parsePort, parsePositiveInt, parseSeconds, parseServerUrl, parseSize, parseTransportMode } from '../../../src/cli/options.js';
import { AirlockError } from '../../../src/errors.js';
import { thrownAirlockError } from '../../helpers/thrown.js';

function invalidArgument(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('commander.invalidArgument');
    return error as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError, nothing was thrown');
}

const airlockError = thrownAirlockError;

describe('parseTransportMode', () => {
  it.each([
    ['auto', 'auto'],
    ['http', 'http'],
    ['sse', 'sse'],
    ['http-first', 'auto'],
    ['sse-first', 'sse-first'],
    ['http-only', 'http'],
    ['sse-only', 'sse'],
    ['streamable-http', 'http'],
    ['streamablehttp', 'http'],
    ['HTTP-Only', 'http'],
    ['streamableHttp', 'http'],
  ])('%s -> %s', (value, mode) => {
    expect(parseTransportMode(value)).toBe(mode);
  });

  it.each([['websocket'], [''], ['http first']])('refuses %j', (value) => {
    expect(invalidArgument(() => parseTransportMode(value)).message).toBe("use auto, http or sse (or mcp-remote's http-first, sse-first, http-only, sse-only).");
  });

  it.each([['constructor'], ['__proto__']])('refuses the inherited object key %j', (value) => {
    // A plain-object lookup returns Object.prototype members for these, which are truthy.
    expect(invalidArgument(() => parseTransportMode(value)).message).toBe("use auto, http or sse (or mcp-remote's http-first, sse-first, http-only, sse-only).");
  });
});

describe('parseSize', () => {
  it.each([
    ['4mb', 4 * 1024 * 1024],
    ['512kb', 512 * 1024],
    ['1048576', 1048576],
    ['1.5mb', 1572864],
    ['4MiB', 4 * 1024 * 1024],
    ['2G', 2 * 1024 ** 3],
    ['100b', 100],
    [' 8 KB ', 8192],
  ])('%j -> %i', (value, bytes) => {
    expect(parseSize(value)).toBe(bytes);
  });

  it.each([['0'], ['0kb'], ['-1mb'], ['mb'], ['4tb'], ['4 m b'], [''], ['1e6'], ['abc']])('refuses %j', (value) => {
    expect(invalidArgument(() => parseSize(value)).message).toBe('use a size such as 4mb, 512kb or 1048576.');
  });

  it('refuses a size that rounds down to 0 bytes', () => {
    // Number('0.5') > 0 passes the check, then Math.floor gives 0: a zero limit the 0 check meant to refuse.
    expect(invalidArgument(() => parseSize('0.5')).message).toBe('use a size such as 4mb, 512kb or 1048576.');
  });
});

describe('parsePort', () => {
  it.each([['0', 0], ['80', 80], ['8000', 8000], ['65535', 65535]])('%j -> %i', (value, port) => {
    expect(parsePort(value)).toBe(port);
  });

  it.each([['65536'], ['-1'], ['80.5'], ['abc'], ['NaN']])('refuses %j', (value) => {
    expect(invalidArgument(() => parsePort(value)).message).toBe('use a port number from 0 to 65535 (0 picks a free one).');
  });

  it('refuses an empty value instead of reading it as port 0', () => {
    // Number('') is 0, so `--port ""` (an unset variable in a config) would silently pick a random port.
    expect(invalidArgument(() => parsePort('')).message).toBe('use a port number from 0 to 65535 (0 picks a free one).');
  });
});

describe('parseSeconds', () => {
  it.each([['0', 0], ['30', 30], ['1.5', 1.5]])('%j -> %d', (value, seconds) => {
    expect(parseSeconds(value)).toBe(seconds);
  });

  it.each([['-1'], ['abc'], ['Infinity'], ['10s']])('refuses %j', (value) => {
    expect(invalidArgument(() => parseSeconds(value)).message).toBe('use a number of seconds (0 switches it off).');
  });

  it('refuses an empty value instead of reading it as 0 (off)', () => {
    expect(invalidArgument(() => parseSeconds('')).message).toBe('use a number of seconds (0 switches it off).');
  });
});

describe('parsePositiveInt and collect', () => {
  it('parses whole numbers of at least 1', () => {
    expect(parsePositiveInt('1')).toBe(1);
    expect(parsePositiveInt('100')).toBe(100);
    for (const value of ['0', '-2', '1.5', 'x']) {
      expect(invalidArgument(() => parsePositiveInt(value)).message).toBe('use a whole number of at least 1.');
    }
  });

  it('collects repeated values without changing the previous array', () => {
    const first = collect('a');
    const second = collect('b', first);
    expect(first).toEqual(['a']);
    expect(second).toEqual(['a', 'b']);
  });
});

describe('parseLogLevel', () => {
  it.each([['silent', 'silent'], ['error', 'error'], ['warn', 'warn'], ['info', 'info'], ['debug', 'debug'], ['DEBUG', 'debug'], ['none', 'silent'], ['None', 'silent']])(
    '%s -> %s',
    (value, level) => {
      expect(parseLogLevel(value)).toBe(level);
    },
  );

  it.each([['verbose'], ['trace'], ['']])('refuses %j', (value) => {
    expect(invalidArgument(() => parseLogLevel(value)).message).toBe('use silent, error, warn, info or debug.');
  });
});

describe('parseServerUrl', () => {
  it('accepts https', () => {
    const url = parseServerUrl('https://mcp.example.com/mcp?x=1', false);
    expect(url).toBeInstanceOf(URL);
    expect(url.href).toBe('https://mcp.example.com/mcp?x=1');
  });

  it.each([['http://127.0.0.1:3000/mcp'], ['http://localhost/mcp'], ['http://LOCALHOST:8080/sse'], ['http://[::1]:3000/mcp'], ['http://127.0.0.2/mcp']])(
    'accepts plain http to loopback %s',
    (value) => {
      expect(parseServerUrl(value, false).href).toBe(new URL(value).href);
    },
  );

  it('refuses plain http to another host with AIRLOCK_INSECURE_URL', () => {
    const error = airlockError(() => parseServerUrl('http://example.com:8080/mcp', false));
    expect(error.code).toBe('AIRLOCK_INSECURE_URL');
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('refusing plain http to "example.com:8080": headers and tokens would cross the network unencrypted');
    expect(error.hint).toBe('Use https, or pass --allow-http if this network is trusted.');
  });

  it('does not put URL credentials in the insecure URL message', () => {
    const error = airlockError(() => parseServerUrl('http://user:hunter2@example.com/mcp', false));
    expect(error.message).toBe('refusing plain http to "example.com": headers and tokens would cross the network unencrypted');
  });

  it('refuses a name that only starts like localhost', () => {
    expect(airlockError(() => parseServerUrl('http://localhost.evil.example/mcp', false)).code).toBe('AIRLOCK_INSECURE_URL');
  });

  it('accepts plain http to another host with allowHttp', () => {
    expect(parseServerUrl('http://example.com/mcp', true).href).toBe('http://example.com/mcp');
  });

  it('refuses other schemes with AIRLOCK_BAD_URL, even with allowHttp', () => {
    for (const allowHttp of [false, true]) {
      const error = airlockError(() => parseServerUrl('ftp://example.com/mcp', allowHttp));
      expect(error.code).toBe('AIRLOCK_BAD_URL');
      expect(error.exitCode).toBe(2);
      expect(error.message).toBe('unsupported URL scheme "ftp:"; only http and https');
      expect(error.hint).toBe('Give the full server URL, such as https://mcp.example.com/mcp.');
    }
  });

  it.each([['garbage'], ['mcp example'], ['']])('refuses %j as not a URL', (value) => {
    const error = airlockError(() => parseServerUrl(value, false));
    expect(error.code).toBe('AIRLOCK_BAD_URL');
    expect(error.message).toBe(`not a URL: ${JSON.stringify(value)}`);
    expect(error.hint).toBe('Give the full server URL, such as https://mcp.example.com/mcp.');
  });

  it.each([
    ['example.com/mcp', 'https://example.com/mcp'],
    ['mcp.example.com:8443/v1/mcp?x=1', 'https://mcp.example.com:8443/v1/mcp?x=1'],
    ['localhost:3000/mcp', 'http://localhost:3000/mcp'],
    ['127.0.0.1:8808', 'http://127.0.0.1:8808'],
    ['[::1]:8808/mcp', 'http://[::1]:8808/mcp'],
    ['intranet:8080', 'https://intranet:8080'],
  ])('names the URL meant when %j has no scheme', (value, meant) => {
    const error = airlockError(() => parseServerUrl(value, false));
    expect(error.code).toBe('AIRLOCK_BAD_URL');
    expect(error.message).toBe(`not a URL: ${JSON.stringify(value)} has no scheme`);
    expect(error.hint).toBe(`Write it with its scheme: ${meant} (https:// for a remote server; http:// only for this machine, or with --allow-http).`);
  });
});

describe('formatSize and formatSeconds', () => {
  it.each([
    [32 * 1024 * 1024, '32 MiB'],
    [4 * 1024 * 1024, '4 MiB'],
    [10 * 1024 * 1024, '10 MiB'],
    [2 * 1024 ** 3, '2 GiB'],
    [512 * 1024, '512 KiB'],
    [1536 * 1024, '1536 KiB'],
    [1500, '1500 bytes'],
  ])('shows %d bytes as %j, and parseSize reads it back', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
    expect(parseSize(text.replace(' bytes', ''))).toBe(bytes);
  });

  it.each([
    [1800, '1800 s = 30 min'],
    [300, '300 s = 5 min'],
    [7200, '7200 s = 2 h'],
    [90, '90 s'],
    [0, '0 s'],
  ])('shows %d seconds as %j', (seconds, text) => {
    expect(formatSeconds(seconds)).toBe(text);
  });
});

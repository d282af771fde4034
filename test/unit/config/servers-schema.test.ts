/**
 * schemas/servers.schema.json and the reader (servers-file.ts) describe one format: the schema is
 * what editors use, the reader what airlock enforces. Every example below is judged by both (the
 * schema through ajv), and the member lists must be the same; these tests fail when one changes
 * alone. What the schema cannot say (a `${...}` reference's syntax inside longer strings) is the
 * reader's alone, and listed at the end.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { PROVIDER_PROFILES } from '../../../src/auth/provider-profiles.js';
import { PROTOCOL_CHOICES } from '../../../src/eras/era-adapter.js';
import { AUTH_MEMBERS, ENTRY_MEMBERS, ENV_NAME, GRANTS, HEADER_NAME, SERVER_NAME, TOP_MEMBERS, TYPE_SPELLINGS, checkServersFile } from '../../../src/config/servers-file.js';
import { storageModes } from '../../../src/store/storage-mode.js';

type Schema = { properties?: Record<string, Schema>; $defs?: Record<string, Schema>; enum?: unknown[]; pattern?: string; propertyNames?: Schema; additionalProperties?: unknown };
const schema = JSON.parse(readFileSync(new URL('../../../schemas/servers.schema.json', import.meta.url), 'utf8')) as Schema;
const defs = schema.$defs!;
const require = createRequire(import.meta.url);
const Ajv2020 = (require('ajv/dist/2020') as { default: new (options: object) => { compile(schema: object): (data: unknown) => boolean } }).default;
const validate = new Ajv2020({ strict: false }).compile(schema);

const valid: Record<string, unknown> = {
  'a spawned server': { servers: { files: { command: 'npx', args: ['-y', 'server-filesystem', '.'] } } },
  'mcpServers as the top member': { mcpServers: { files: { command: 'node', env: { LOG: 'debug' } } } },
  'a remote server with a header reference': { servers: { github: { url: 'https://api.example.com/mcp', headers: { Authorization: 'Bearer ${keychain:github}' } } } },
  'every type spelling hosts use': { servers: Object.fromEntries(Object.keys(TYPE_SPELLINGS).map((t, i) => [`s${i}`, TYPE_SPELLINGS[t] === 'stdio' ? { type: t, command: 'x' } : { type: t, url: 'http://127.0.0.1/mcp' }])) },
  "airlock's own members": {
    $schema: '../schemas/servers.schema.json',
    servers: {
      remote: { url: 'https://x.example/mcp', auth: { account: 'work', grant: 'device', clientId: 'abc', clientSecret: '${file:~/secret}', scopes: ['a', 'b'], providerProfile: 'entra' }, storage: 'file', policyFile: 'policy.json', share: true, idleTimeout: 600, maxMessage: '4mb', protocol: '2026-07-28' },
      local: { command: 'x', cwd: 'sub', maxMessage: 1048576, env: { TOKEN: '${env:TOKEN}' } },
    },
  },
  'no servers yet': { servers: {} },
};

const invalid: Record<string, unknown> = {
  'no servers member': {},
  'servers and mcpServers': { servers: {}, mcpServers: {} },
  'an unknown top member': { servers: {}, sever: {} },
  'an unknown entry member': { servers: { a: { command: 'x', arg: [] } } },
  'neither command nor url': { servers: { a: { env: {} } } },
  'command and url': { servers: { a: { command: 'x', url: 'http://x' } } },
  'an unknown type': { servers: { a: { type: 'websocket', url: 'ws://x' } } },
  'type stdio with a url': { servers: { a: { type: 'stdio', url: 'http://x' } } },
  'type http with a command': { servers: { a: { type: 'http', command: 'x' } } },
  'headers on a spawned server': { servers: { a: { command: 'x', headers: { A: 'b' } } } },
  'env on a remote server': { servers: { a: { url: 'http://x', env: { A: 'b' } } } },
  'args not a list': { servers: { a: { command: 'x', args: '-y' } } },
  'a number in env': { servers: { a: { command: 'x', env: { A: 1 } } } },
  'a bad env name': { servers: { a: { command: 'x', env: { '1A': 'b' } } } },
  'a bad server name': { servers: { 'my server': { command: 'x' } } },
  'a url without http': { servers: { a: { url: 'ftp://x' } } },
  'an unknown storage': { servers: { a: { command: 'x', storage: 'vault' } } },
  'an unknown protocol': { servers: { a: { command: 'x', protocol: '2024-11-05' } } },
  'share not boolean': { servers: { a: { command: 'x', share: 'yes' } } },
  'a negative idleTimeout': { servers: { a: { command: 'x', idleTimeout: -1 } } },
  'a bad maxMessage': { servers: { a: { command: 'x', maxMessage: 'huge' } } },
  'an unknown auth member': { servers: { a: { url: 'http://x', auth: { user: 'x' } } } },
  'an unknown grant': { servers: { a: { url: 'http://x', auth: { grant: 'password' } } } },
  'a client secret in clear text': { servers: { a: { url: 'http://x', auth: { clientSecret: 'hunter2' } } } },
  'an empty command': { servers: { a: { command: '' } } },
};

describe('schemas/servers.schema.json and the reader agree', () => {
  for (const [name, example] of Object.entries(valid)) {
    it(`valid: ${name}`, () => {
      expect(checkServersFile(JSON.stringify(example)).issues.filter((i) => !i.warning)).toEqual([]);
      expect(validate(example)).toBe(true);
    });
  }
  for (const [name, example] of Object.entries(invalid)) {
    it(`invalid: ${name}`, () => {
      expect(checkServersFile(JSON.stringify(example)).issues.filter((i) => !i.warning).length).toBeGreaterThan(0);
      expect(validate(example)).toBe(false);
    });
  }

  it('names the same members, choices and patterns', () => {
    const names = (s: Schema | undefined): string[] => Object.keys(s?.properties ?? {});
    expect(names(schema)).toEqual([...TOP_MEMBERS]);
    expect(names(defs.server)).toEqual([...ENTRY_MEMBERS]);
    expect(names(defs.auth)).toEqual([...AUTH_MEMBERS]);
    for (const s of [schema, defs.server, defs.auth]) expect(s!.additionalProperties).toBe(false);
    expect(defs.server!.properties!.type!.enum).toEqual(Object.keys(TYPE_SPELLINGS));
    expect(defs.server!.properties!.storage!.enum).toEqual([...storageModes]);
    expect(defs.server!.properties!.protocol!.enum).toEqual([...PROTOCOL_CHOICES]);
    expect(defs.auth!.properties!.grant!.enum).toEqual([...GRANTS]);
    expect(defs.auth!.properties!.providerProfile!.enum).toEqual(['auto', ...PROVIDER_PROFILES]);
    expect(defs.servers!.propertyNames!.pattern).toBe(SERVER_NAME.source);
    expect(defs.server!.properties!.env!.propertyNames!.pattern).toBe(ENV_NAME.source);
    expect(defs.server!.properties!.headers!.propertyNames!.pattern).toBe(HEADER_NAME.source);
  });

  it('what only the reader checks: references inside strings', () => {
    for (const example of [
      { servers: { a: { command: 'x', env: { T: '${TOKEN}' } } } },
      { servers: { a: { command: 'x', args: ['${vault:x}'] } } },
      { servers: { a: { url: 'http://x', headers: { A: 'Bearer ${keychain:bad name}' } } } },
    ]) {
      expect(validate(example)).toBe(true);
      expect(checkServersFile(JSON.stringify(example)).issues.filter((i) => !i.warning).length).toBe(1);
    }
  });
});

/**
 * `mcp-airlock import`, `install` and `uninstall` against a fixture home holding a config of
 * every host format (JSON, JSONC with comments and trailing commas, Codex's TOML): what import
 * takes and leaves, secrets moved to the store only with consent, and install then uninstall
 * leaving each host's file byte for byte as it was.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { airlockBin } from '../helpers/airlock-process.js';

let home: string;
let project: string;
let env: NodeJS.ProcessEnv;

/** Each host's config in the fixture home (Linux paths), relative to home; `./` is the project. */
const HOST_FILES: Record<string, { path: string; text: string }> = {
  claude: {
    path: '.config/Claude/claude_desktop_config.json',
    text: '{\n  "mcpServers": {\n    "filesystem": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"] }\n  },\n  "globalShortcut": "Ctrl+Space"\n}\n',
  },
  'claude-code-user': { path: '.claude.json', text: '{"numStartups": 3, "mcpServers": {"sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp"}}}' },
  'claude-code': { path: './.mcp.json', text: '{\n  "mcpServers": {\n    "db": { "type": "stdio", "command": "db-mcp", "env": { "DB_URL": "${DATABASE_URL}" } }\n  }\n}\n' },
  cursor: { path: '.cursor/mcp.json', text: '{\n\t"mcpServers": {\n\t\t"github": { "url": "https://api.githubcopilot.com/mcp/", "headers": { "Authorization": "Bearer ghp_plaintext123" } }\n\t}\n}\n' },
  'cursor-project': { path: './.cursor/mcp.json', text: '{"mcpServers": {"linear": {"command": "npx", "args": ["-y", "mcp-remote", "https://mcp.linear.app/sse"]}}}\n' },
  vscode: {
    path: '.config/Code/User/mcp.json',
    text: '{\n  // my servers\n  "inputs": [],\n  "servers": {\n    "memory": { "type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"], },\n    "asks": { "type": "http", "url": "https://x.example/mcp", "headers": { "Authorization": "Bearer ${input:token}" } },\n  },\n}\n',
  },
  codex: {
    path: '.codex/config.toml',
    text: 'model = "o3"\n\n# servers\n[mcp_servers.time]\ncommand = "uvx"\nargs = [\n  "mcp-server-time",\n  "--local-timezone=Europe/Paris",\n]\n\n[mcp_servers.time.env]\nTZ = \'Europe/Paris\'\n\n[mcp_servers.notion]\nurl = "https://mcp.notion.com/mcp"\nbearer_token_env_var = "NOTION_TOKEN"\n\n[profiles.fast]\nmodel = "o4-mini"\n',
  },
  gemini: { path: '.gemini/settings.json', text: '{\n  "theme": "GitHub",\n  "mcpServers": {\n    "weather": { "httpUrl": "https://weather.example/mcp", "timeout": 5000, "trust": false },\n    "legacy": { "url": "https://legacy.example/sse" }\n  }\n}\n' },
  zed: { path: '.config/zed/settings.json', text: '// Zed settings\n{\n  "theme": "One Dark",\n  "context_servers": {\n    "postgres": { "command": { "path": "postgres-mcp", "args": ["--ro"], "env": {} }, "settings": {} }\n  },\n  /* fonts */ "buffer_font_size": 15\n}\n' },
  windsurf: { path: '.codeium/windsurf/mcp_config.json', text: '{"mcpServers": {"brave": {"serverUrl": "https://brave.example/mcp"}, "filesystem": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home"]}}}' },
};

const where = (path: string): string => (path.startsWith('./') ? join(project, path.slice(2)) : join(home, path));

function airlock(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [airlockBin, ...args], { cwd: project, env, input, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  home = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-hosts-')));
  project = join(home, 'project');
  mkdirSync(project);
  env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), MCP_AIRLOCK_CONFIG_DIR: join(home, 'airlock') };
  delete env.APPDATA;
  delete env.CODEX_HOME;
  for (const { path, text } of Object.values(HOST_FILES)) {
    mkdirSync(dirname(where(path)), { recursive: true });
    writeFileSync(where(path), text);
  }
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('import', () => {
  it('--dry-run shows what each host gives and what is left, and writes nothing', () => {
    const result = airlock(['import', '--dry-run']);
    expect(result.status).toBe(0);
    const lines = result.stdout.split('\n');
    for (const taken of ['+ filesystem (Claude Desktop)', '+ sentry (Claude Code)', '+ db (Claude Code)', '+ github (Cursor)', '+ linear (Cursor)', '+ memory (VS Code)', '+ time (Codex)', '+ notion (Codex)', '+ weather (Gemini CLI); left out: timeout, trust', '+ legacy (Gemini CLI)', '+ postgres (Zed); left out: settings', '+ brave (Windsurf)']) {
      expect(lines).toContain(taken);
    }
    expect(lines).toContain('- asks (VS Code): skipped: it uses "${input:token}", which only its host can fill in');
    expect(lines).toContain(`- filesystem (Windsurf): skipped: a different server of that name comes from ${where(HOST_FILES.claude!.path)}`);
    expect(lines).toContain(`dry run: 12 server(s) would go into ${join(home, 'airlock', 'servers.json')}; nothing written`);
    expect(result.stderr).toBe('mcp-airlock: warning: 1 secret(s) kept in clear text (github headers.Authorization)\n');
    expect(existsSync(join(home, 'airlock', 'servers.json'))).toBe(false);
  });

  it('writes the servers file, with the secret moved to the store (--yes), and the file checks valid', () => {
    const result = airlock(['import', '--yes', '--storage', 'file']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('secret github headers.Authorization stored as ${keychain:github-authorization}');
    const servers = JSON.parse(readFileSync(join(home, 'airlock', 'servers.json'), 'utf8')) as { servers: Record<string, unknown> };
    expect(servers.servers).toEqual({
      filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'] },
      sentry: { url: 'https://mcp.sentry.dev/mcp', type: 'http' },
      db: { command: 'db-mcp', env: { DB_URL: '${env:DATABASE_URL}' } },
      github: { url: 'https://api.githubcopilot.com/mcp/', headers: { Authorization: 'Bearer ${keychain:github-authorization}' } },
      linear: { url: 'https://mcp.linear.app/sse' },
      memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] },
      time: { command: 'uvx', args: ['mcp-server-time', '--local-timezone=Europe/Paris'], env: { TZ: 'Europe/Paris' } },
      notion: { url: 'https://mcp.notion.com/mcp', headers: { Authorization: 'Bearer ${env:NOTION_TOKEN}' } },
      weather: { url: 'https://weather.example/mcp', type: 'http' },
      legacy: { url: 'https://legacy.example/sse', type: 'sse' },
      postgres: { command: 'postgres-mcp', args: ['--ro'] },
      brave: { url: 'https://brave.example/mcp' },
    });
    expect(airlock(['secret', 'list', '--storage', 'file']).stdout).toBe('github-authorization\n');
    expect(airlock(['config', 'check']).stdout).toBe(`${join(home, 'airlock', 'servers.json')}: valid: 12 servers\n`);
    // Again: every name is there already.
    expect(airlock(['import', '--yes', '--storage', 'file']).stdout).toContain(`- sentry (Claude Code): skipped: ${join(home, 'airlock', 'servers.json')} has a server of that name already`);
  });
});

describe('install and uninstall', () => {
  const hosts = ['claude', 'claude-code', 'cursor', 'vscode', 'codex', 'gemini', 'zed', 'windsurf'];

  for (const host of hosts) {
    it(`${host}: one line per server, the host's other settings kept; uninstall puts the file back byte for byte`, () => {
      const file = where(HOST_FILES[host]!.path);
      const before = readFileSync(file);
      const result = airlock(['install', '--host', host]);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const after = readFileSync(file, 'utf8');
      for (const name of ['filesystem', 'sentry', 'github', 'time', 'brave']) expect(after).toContain(`"${name}"`);
      expect(after).toContain(JSON.stringify(join(process.cwd(), 'bin', 'mcp-airlock.js')));
      if (host === 'zed') expect(after).toMatch(/^\/\/ Zed settings\n[\s\S]*\/\* fonts \*\/ "buffer_font_size": 15/);
      if (host === 'codex') expect(after).toMatch(/^model = "o3"\n[\s\S]*\[profiles\.fast\]\nmodel = "o4-mini"\n/);
      if (host === 'claude') expect(JSON.parse(after)).toMatchObject({ globalShortcut: 'Ctrl+Space', mcpServers: { filesystem: { command: process.execPath, args: [expect.stringMatching(/mcp-airlock\.js$/), 'filesystem'] } } });
      if (host === 'vscode') expect(after).toContain('"asks": { "type": "http"');
      expect(readdirSync(dirname(file)).some((name) => name.startsWith(`${file.slice(dirname(file).length + 1)}.airlock-backup-`))).toBe(true);
      const undo = airlock(['uninstall', '--host', host]);
      expect(undo).toEqual({ status: 0, stdout: `${file}: restored from its backup\n`, stderr: '' });
      expect(readFileSync(file).equals(before)).toBe(true);
      expect(readdirSync(dirname(file)).filter((name) => name.includes('.airlock-'))).toEqual([]);
    });
  }

  it('uninstall refuses a file changed since install, and --force puts the backup back', () => {
    const file = where(HOST_FILES.cursor!.path);
    const before = readFileSync(file);
    expect(airlock(['install', '--host', 'cursor']).status).toBe(0);
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n`);
    const refused = airlock(['uninstall', '--host', 'cursor']);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/^mcp-airlock: error: ".*mcp\.json": changed since `mcp-airlock install --host cursor` \(.*\): not restored\nmcp-airlock: hint: Remove the mcp-airlock lines by hand, or run `mcp-airlock uninstall --host cursor --force` to put back .*\.airlock-backup-.* \(what changed since is lost\)\.\n$/);
    expect(airlock(['uninstall', '--host', 'cursor', '--force']).status).toBe(0);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('a host without a config file: install creates it, uninstall removes it; --dry-run writes nothing', () => {
    const file = join(home, '.codeium', 'windsurf', 'mcp_config.json');
    rmSync(file);
    expect(airlock(['install', '--host', 'windsurf', '--dry-run']).stdout).toContain('dry run: nothing written');
    expect(existsSync(file)).toBe(false);
    expect(airlock(['install', '--host', 'windsurf']).status).toBe(0);
    expect(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { mcpServers: object }).mcpServers)).toHaveLength(12);
    expect(airlock(['uninstall', '--host', 'windsurf']).stdout).toBe(`${file}: removed (install had created it)\n`);
    expect(existsSync(file)).toBe(false);
  });

  it('an unknown host names the one it most likely is', () => {
    const result = airlock(['install', '--host', 'cursr']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('mcp-airlock: error: invalid value "cursr" for --host\nmcp-airlock: hint: Use one of claude, claude-code, cursor, vscode, codex, gemini, zed, windsurf (did you mean cursor?).\n');
  });
});

/**
 * Where each MCP host keeps its servers, and how it writes one: the eight formats `import` reads
 * and `install` writes. Paths follow each host's documentation per OS; HOME (USERPROFILE),
 * APPDATA, XDG_CONFIG_HOME and CODEX_HOME are read from the environment given, so tests run
 * against fixture homes.
 *
 * | host        | file (Linux; macOS and Windows in `userFile`)       | servers under     | syntax |
 * | claude      | ~/.config/Claude/claude_desktop_config.json          | mcpServers        | JSON   |
 * | claude-code | ./.mcp.json (import also ~/.claude.json)             | mcpServers        | JSON   |
 * | cursor      | ~/.cursor/mcp.json (import also ./.cursor/mcp.json)  | mcpServers        | JSON   |
 * | vscode      | ~/.config/Code/User/mcp.json (+ ./.vscode/mcp.json)  | servers           | JSONC  |
 * | codex       | ~/.codex/config.toml                                 | [mcp_servers.X]   | TOML   |
 * | gemini      | ~/.gemini/settings.json (+ ./.gemini/settings.json)  | mcpServers        | JSONC  |
 * | zed         | ~/.config/zed/settings.json                          | context_servers   | JSONC  |
 * | windsurf    | ~/.codeium/windsurf/mcp_config.json                  | mcpServers        | JSON   |
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const HOST_IDS = ['claude', 'claude-code', 'cursor', 'vscode', 'codex', 'gemini', 'zed', 'windsurf'] as const;
export type HostId = (typeof HOST_IDS)[number];

/** Where a host's files are looked for. */
export interface HostPlaces {
  home: string;
  appData: string;
  xdgConfig: string;
  codexHome: string;
  cwd: string;
  platform: NodeJS.Platform;
}

export function hostPlaces(env: NodeJS.ProcessEnv, cwd: string, platform: NodeJS.Platform = process.platform): HostPlaces {
  const home = env.HOME || env.USERPROFILE || homedir();
  return {
    home,
    appData: env.APPDATA || join(home, 'AppData', 'Roaming'),
    xdgConfig: env.XDG_CONFIG_HOME || join(home, '.config'),
    codexHome: env.CODEX_HOME || join(home, '.codex'),
    cwd,
    platform,
  };
}

export interface HostFormat {
  id: HostId;
  label: string;
  syntax: 'json' | 'toml';
  /** The member that holds the servers (JSON), or the TOML table. */
  key: string;
  /** The file `install` writes (the user's, but for Claude Code: the project's .mcp.json). */
  installFile(places: HostPlaces): string;
  /** Every file `import` reads, the user's first. */
  importFiles(places: HostPlaces): string[];
  /** The host's entry for a server started as `command args`. */
  line(command: string, args: string[]): Record<string, unknown>;
}

/** A folder per OS: macOS Application Support, Windows APPDATA, else XDG_CONFIG_HOME. */
function appFolder(places: HostPlaces, name: string): string {
  if (places.platform === 'darwin') return join(places.home, 'Library', 'Application Support', name);
  if (places.platform === 'win32') return join(places.appData, name);
  return join(places.xdgConfig, name);
}

const plain = (command: string, args: string[]): Record<string, unknown> => ({ command, args });
const typed = (command: string, args: string[]): Record<string, unknown> => ({ type: 'stdio', command, args });

/** One host: `user` is the file install writes; `project` files (relative to cwd) are read by import too. */
function host(id: HostId, label: string, key: string, user: (p: HostPlaces) => string, project: string[] = [], options: Partial<Pick<HostFormat, 'syntax' | 'line'>> = {}): HostFormat {
  return {
    id,
    label,
    key,
    syntax: options.syntax ?? 'json',
    line: options.line ?? plain,
    installFile: user,
    importFiles: (p) => [user(p), ...project.map((path) => join(p.cwd, path))],
  };
}

const zedSettings = (p: HostPlaces): string =>
  p.platform === 'win32' ? join(p.appData, 'Zed', 'settings.json') : join(p.platform === 'darwin' ? join(p.home, '.config') : p.xdgConfig, 'zed', 'settings.json');

export const HOST_FORMATS: Record<HostId, HostFormat> = {
  claude: host('claude', 'Claude Desktop', 'mcpServers', (p) => join(appFolder(p, 'Claude'), 'claude_desktop_config.json')),
  // Install writes the project's .mcp.json: ~/.claude.json is Claude Code's own state, rewritten as
  // it runs, so a backup of it would be stale at once. Import reads both.
  'claude-code': {
    ...host('claude-code', 'Claude Code', 'mcpServers', (p) => join(p.cwd, '.mcp.json'), [], { line: typed }),
    importFiles: (p) => [join(p.home, '.claude.json'), join(p.cwd, '.mcp.json')],
  },
  cursor: host('cursor', 'Cursor', 'mcpServers', (p) => join(p.home, '.cursor', 'mcp.json'), [join('.cursor', 'mcp.json')]),
  vscode: host('vscode', 'VS Code', 'servers', (p) => join(appFolder(p, 'Code'), 'User', 'mcp.json'), [join('.vscode', 'mcp.json')], { line: typed }),
  codex: host('codex', 'Codex', 'mcp_servers', (p) => join(p.codexHome, 'config.toml'), [], { syntax: 'toml' }),
  gemini: host('gemini', 'Gemini CLI', 'mcpServers', (p) => join(p.home, '.gemini', 'settings.json'), [join('.gemini', 'settings.json')]),
  // Zed's current settings tag a server by its source: "custom" is one run by command.
  zed: host('zed', 'Zed', 'context_servers', zedSettings, [], { line: (command, args) => ({ source: 'custom', command, args }) }),
  windsurf: host('windsurf', 'Windsurf', 'mcpServers', (p) => join(p.home, '.codeium', 'windsurf', 'mcp_config.json')),
};

export function isHostId(value: string): value is HostId {
  return (HOST_IDS as readonly string[]).includes(value);
}

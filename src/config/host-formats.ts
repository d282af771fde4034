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

export const HOST_FORMATS: Record<HostId, HostFormat> = {
  claude: {
    id: 'claude',
    label: 'Claude Desktop',
    syntax: 'json',
    key: 'mcpServers',
    installFile: (p) => join(appFolder(p, 'Claude'), 'claude_desktop_config.json'),
    importFiles: (p) => [join(appFolder(p, 'Claude'), 'claude_desktop_config.json')],
    line: plain,
  },
  'claude-code': {
    id: 'claude-code',
    label: 'Claude Code',
    syntax: 'json',
    key: 'mcpServers',
    // ~/.claude.json is Claude Code's own state, rewritten as it runs: a backup of it would be stale at once.
    installFile: (p) => join(p.cwd, '.mcp.json'),
    importFiles: (p) => [join(p.home, '.claude.json'), join(p.cwd, '.mcp.json')],
    line: typed,
  },
  cursor: {
    id: 'cursor',
    label: 'Cursor',
    syntax: 'json',
    key: 'mcpServers',
    installFile: (p) => join(p.home, '.cursor', 'mcp.json'),
    importFiles: (p) => [join(p.home, '.cursor', 'mcp.json'), join(p.cwd, '.cursor', 'mcp.json')],
    line: plain,
  },
  vscode: {
    id: 'vscode',
    label: 'VS Code',
    syntax: 'json',
    key: 'servers',
    installFile: (p) => join(appFolder(p, 'Code'), 'User', 'mcp.json'),
    importFiles: (p) => [join(appFolder(p, 'Code'), 'User', 'mcp.json'), join(p.cwd, '.vscode', 'mcp.json')],
    line: typed,
  },
  codex: {
    id: 'codex',
    label: 'Codex',
    syntax: 'toml',
    key: 'mcp_servers',
    installFile: (p) => join(p.codexHome, 'config.toml'),
    importFiles: (p) => [join(p.codexHome, 'config.toml')],
    line: plain,
  },
  gemini: {
    id: 'gemini',
    label: 'Gemini CLI',
    syntax: 'json',
    key: 'mcpServers',
    installFile: (p) => join(p.home, '.gemini', 'settings.json'),
    importFiles: (p) => [join(p.home, '.gemini', 'settings.json'), join(p.cwd, '.gemini', 'settings.json')],
    line: plain,
  },
  zed: {
    id: 'zed',
    label: 'Zed',
    syntax: 'json',
    key: 'context_servers',
    installFile: (p) => (p.platform === 'win32' ? join(p.appData, 'Zed', 'settings.json') : join(p.platform === 'darwin' ? join(p.home, '.config') : p.xdgConfig, 'zed', 'settings.json')),
    importFiles: (p) => [HOST_FORMATS.zed.installFile(p)],
    line: plain,
  },
  windsurf: {
    id: 'windsurf',
    label: 'Windsurf',
    syntax: 'json',
    key: 'mcpServers',
    installFile: (p) => join(p.home, '.codeium', 'windsurf', 'mcp_config.json'),
    importFiles: (p) => [join(p.home, '.codeium', 'windsurf', 'mcp_config.json')],
    line: plain,
  },
};

export function isHostId(value: string): value is HostId {
  return (HOST_IDS as readonly string[]).includes(value);
}

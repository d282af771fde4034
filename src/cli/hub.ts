/**
 * `mcp-airlock hub start|stop`: the per-user hub (docs/hub.md). A shim started by an MCP host
 * (`--hub auto`) starts the hub itself when none answers; `hub start` runs one in the foreground
 * (its log on stderr), `hub stop` ends the running one after its attached commands.
 */
import type { Command } from 'commander';
import { ExitCode } from '../errors.js';
import { createLogger, type LogLevel } from '../log.js';
import { Hub } from '../hub/hub-server.js';
import { askHub, HUB_PROTOCOL, hubPaths, type HubStatus } from '../hub/hub-endpoint.js';
import { version } from './context.js';
import { parseLogLevel, parseSeconds } from './options.js';
import type { CommandResult } from './program.js';

/** A hub with no client attached for this long exits (docs/hub.md). */
export const DEFAULT_HUB_IDLE_SECONDS = 600;
/** A shared server with no client left keeps running this long: a host that restarts finds it (docs/hub.md). */
export const DEFAULT_SERVER_IDLE_SECONDS = 60;

export function registerHub(program: Command, result: CommandResult): void {
  const hub = program.command('hub').summary('the per-user hub that connect and run attach to with --hub auto').description('One airlock per user: MCP hosts attach to it (--hub auto or MCP_AIRLOCK_HUB=auto) instead of each starting its own. See docs/hub.md.');
  hub
    .command('start')
    .description('run the hub in the foreground (a shim starts it in the background when none answers)')
    .option('--idle <seconds>', 'exit after this long with no client attached; 0: never', parseSeconds, DEFAULT_HUB_IDLE_SECONDS)
    .option('--server-idle <seconds>', 'a server that can be shared keeps running this long after its last client detached; 0: stops at once', parseSeconds, DEFAULT_SERVER_IDLE_SECONDS)
    .option('--log-level <level>', 'silent | error | warn | info | debug', parseLogLevel, 'info')
    .action(async (options: { idle: number; serverIdle: number; logLevel: LogLevel }) => {
      const log = createLogger(options.logLevel);
      const { main } = await import('./main.js');
      const server = new Hub({ paths: hubPaths(process.env), idleMs: Math.round(options.idle * 1000), serverIdleMs: Math.round(options.serverIdle * 1000), version, log, run: (argv, io) => main(argv, io) });
      if (!(await server.listen())) {
        log.info(`a hub already answers on ${hubPaths(process.env).socket}; not starting another`);
        return;
      }
      const onSignal = (signal: NodeJS.Signals): void => void server.stop(`received ${signal}`);
      const onExit = (): void => server.killChildren();
      // One command's bug ends that command's session, not every host's (Hub.fault).
      process.on('uncaughtException', (error) => server.fault(error, 'uncaught exception'));
      process.on('unhandledRejection', (reason) => server.fault(reason, 'unhandled rejection'));
      for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
      process.on('exit', onExit);
      await server.stopped;
      result.exitCode = ExitCode.ok;
    });
  hub
    .command('status')
    .description('the running hub: its clients (host and pid), what each reaches, the servers they spawned and their memory')
    .option('--json', 'one JSON document on stdout', false)
    .action(async (options: { json: boolean }) => {
      const { socket } = hubPaths(process.env);
      const answer = await askHub(socket, { airlockHub: HUB_PROTOCOL, status: true });
      if (answer === undefined) {
        if (options.json) process.stdout.write(`${JSON.stringify({ running: false, socket })}\n`);
        else process.stdout.write(`no hub is running (nothing answers on ${socket})\n`);
        return;
      }
      const status = JSON.parse(answer) as HubStatus;
      if (options.json) return void process.stdout.write(`${JSON.stringify({ running: true, ...status }, null, 2)}\n`);
      process.stdout.write(formatStatus(status));
    });
  hub
    .command('stop')
    .description('stop the running hub: its attached commands end (their hosts see the server go), then it exits; with SERVER, only that spawned server')
    .argument('[server]', "a spawned server's key (or its first characters) or command name, as `hub status` shows them")
    .action(async (server: string | undefined) => {
      const { socket } = hubPaths(process.env);
      const answer = await askHub(socket, { airlockHub: HUB_PROTOCOL, stop: true, ...(server !== undefined ? { server } : {}) });
      if (answer === undefined) {
        process.stderr.write(`mcp-airlock: no hub is running (nothing answers on ${socket})\n`);
        return;
      }
      if (server !== undefined) {
        const { stopped } = JSON.parse(answer) as { stopped?: string[] };
        if (!stopped || stopped.length === 0) {
          process.stderr.write(`mcp-airlock: error: the hub runs no server named ${JSON.stringify(server)}\nhint: \`mcp-airlock hub status\` lists the servers with their keys and command names.\n`);
          result.exitCode = ExitCode.usage;
          return;
        }
        process.stderr.write(`mcp-airlock: stopped server ${stopped.join(', ')}; its clients' sessions end, and their next line starts it again\n`);
        return;
      }
      const pid = (JSON.parse(answer) as { pid?: number }).pid;
      process.stderr.write(`mcp-airlock: the hub${pid ? ` (pid ${pid})` : ''} is stopping\n`);
    });
}

const mib = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : '? MiB');

function ago(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds} s` : seconds < 7200 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds / 3600)} h`;
}

export function formatStatus(status: HubStatus): string {
  const lines = [
    `hub ${status.version}, pid ${status.pid}, up ${ago(status.startedAt)}, ${mib(status.rss)}`,
    `socket ${status.socket}`,
    `${status.clients.length} client${status.clients.length === 1 ? '' : 's'} attached${status.idleExitSeconds > 0 ? ` (exits after ${status.idleExitSeconds} s with none)` : ''}`,
  ];
  for (const client of status.clients) {
    const servers = client.servers.map((s) => `server pid ${s.pid} ${mib(s.rss)}${s.key ? ` (${s.key})` : ''}`).join(', ');
    lines.push(`  ${client.command} ${client.target}: host ${client.host.name ?? '?'} (pid ${client.host.pid}), shim pid ${client.pid}, attached ${ago(client.attachedAt)}${servers ? `; ${servers}` : ''}`);
  }
  const upstreams = status.upstreams ?? [];
  if (upstreams.length > 0) lines.push(`${upstreams.length} server${upstreams.length === 1 ? '' : 's'} (spawned, or a remote connection)`);
  for (const upstream of upstreams) {
    const clients = upstream.clients.length;
    const activity = upstream.calls > 0 ? `${upstream.calls} call${upstream.calls === 1 ? '' : 's'} in flight` : `idle ${ago(upstream.lastActivity)}`;
    const who = clients > 0 ? `${clients} client${clients === 1 ? '' : 's'}, ${activity}` : `no client, stops ${upstream.stopsAt ? `in ${Math.max(0, Math.round((Date.parse(upstream.stopsAt) - Date.now()) / 1000))} s` : 'now'}`;
    const errors = upstream.errors > 0 ? `, ${upstream.errors} error answer${upstream.errors === 1 ? '' : 's'}` : '';
    const era = `${upstream.era === 'unknown' ? 'era not known yet' : `${upstream.era} era`}${upstream.state === 'idle' ? ', stopped while idle (starts on the next call)' : ''}`;
    const proc = upstream.pid === undefined ? '' : `, pid ${upstream.pid}, ${mib(upstream.rss)}`;
    lines.push(`  server ${upstream.key} ${upstream.command}${proc}, ${era}, ${upstream.shareable ? 'shared' : 'one client only'}; ${who}${errors}; up ${ago(upstream.startedAt)}`);
  }
  return `${lines.join('\n')}\n`;
}

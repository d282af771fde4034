/**
 * Outbound transport to a spawned stdio MCP server. Our own rather than the SDK's
 * StdioClientTransport because a bridge needs three things it does not give: the child in its own
 * process group (killed as a group, grandchildren included), the exit code and signal for the
 * error we send to the client, and our tolerant line framing (a server that prints junk to stdout
 * is logged, not fatal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { AirlockError, quote } from '../errors.js';
import type { JSONRPCMessage } from '../bridge/json-rpc.js';
import type { Logger } from '../log.js';
import { ChildReaper } from './child-reaper.js';
import { ChildStderr } from './child-stderr.js';
import { JsonLineTransport } from './json-line-transport.js';
import { oversizeVerdict } from './oversize.js';
import { RepeatedWarning } from '../log.js';

export interface ChildProcessTransportOptions {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  maxLineBytes: number;
  /** How long a child may take to exit after its stdin closes before SIGTERM, then SIGKILL. */
  killGraceMs: number;
  log: Logger;
  reaper: ChildReaper;
  /** Whether the child's stderr lines are passed on to ours (default), labelled, or only kept for the exit error. */
  stderr?: 'inherit' | 'ignore';
  /** What the child's stderr lines are labelled with on ours: the session or lane (serve); default `server <pid>`. */
  label?: string;
  /** Where passed-on stderr lines are written; default airlock's stderr. */
  writeStderr?: (text: string) => void;
}

export class ChildProcessTransport implements Transport {
  readonly transportName = 'stdio';

  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private child: ChildProcess | undefined;
  private lines: JsonLineTransport | undefined;
  private exited: Promise<void> | undefined;
  private exitText: string | undefined;
  private closing = false;

  constructor(private readonly options: ChildProcessTransportOptions) {}

  /** The server's pid (its process group's) once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Why the transport closed, for the error sent to the client ("exited with code 3"). */
  get closeReason(): string | undefined {
    return this.exitText;
  }

  async start(): Promise<void> {
    const { command, args, env, cwd, log } = this.options;
    const child = await spawnChild(command, args, { env: env ?? process.env, cwd });
    this.child = child;
    const pid = child.pid as number;
    const write = this.options.writeStderr ?? ((text: string) => void process.stderr.write(text));
    const stderr = new ChildStderr(this.options.label ?? `server ${pid}`, this.options.stderr === 'ignore' ? undefined : write);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => stderr.push(text));
    child.stderr!.on('end', () => stderr.end());
    this.options.reaper.add(pid);
    log.debug(`started server process ${pid}: ${quote(command)}`);

    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.options.reaper.delete(pid);
        // Leftover members of the group (a server's own children) go with it.
        ChildReaper.signalGroup(pid, 'SIGTERM');
        stderr.end();
        const exit = signal ? `server process ${pid} was killed by ${signal}` : `server process ${pid} exited with code ${code}`;
        // Its last words say why (a package that does not exist, a missing key): in the client's error and the log line.
        const last = this.closing ? '' : stderr.lastLines();
        this.exitText = last === '' ? exit : `${exit}; its last stderr lines: ${JSON.stringify(last)}`;
        if (!this.closing) log.warn(`${this.exitText} (${quote(command)})`);
        else log.debug(this.exitText);
        resolve();
        void this.lines?.close();
        this.onclose?.();
      });
    });

    const junk = new RepeatedWarning((text) => log.warn(text));
    const lines = new JsonLineTransport(child.stdout!, child.stdin!, {
      maxLineBytes: this.options.maxLineBytes,
      onInvalidFrame: (frame) => {
        if (frame.oversize) {
          oversizeVerdict({ ...frame.oversize, ended: true }, this.options.maxLineBytes, (message) => this.onmessage?.(message), (message) => this.send(message), junk);
          return;
        }
        junk.report(`server ${quote(command)} wrote a line that is not JSON-RPC to stdout (ignored): ${frame.reason}; line ${quote(frame.preview, 120)}`);
      },
    });
    lines.onmessage = (message) => this.onmessage?.(message);
    lines.onerror = (error) => {
      // EPIPE on the child's stdin means it is dying; 'close' reports the exit.
      if (!this.closing) log.debug(`server stdio error: ${error.message}`);
    };
    // Stdout ending is not the end: the 'close' event (exit code known) is.
    await lines.start();
    this.lines = lines;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (!this.lines || this.exitText) {
      throw new AirlockError('AIRLOCK_UPSTREAM_CLOSED', this.exitText ?? 'server process is not running');
    }
    await this.lines.send(message, options);
  }

  /** Polite first (close stdin, as the MCP spec's shutdown section says), then SIGTERM, then SIGKILL. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || this.closing) return this.exited;
    this.closing = true;
    if (this.exitText) return;
    const pid = child.pid as number;
    child.stdin?.end();
    const grace = this.options.killGraceMs;
    const term = setTimeout(() => ChildReaper.signalGroup(pid, 'SIGTERM'), grace);
    const kill = setTimeout(() => ChildReaper.signalGroup(pid, 'SIGKILL'), grace * 2);
    try {
      await this.exited;
    } finally {
      clearTimeout(term);
      clearTimeout(kill);
    }
  }
}

interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
}

/** Spawn without a shell, in a new process group; resolve once the OS has started it. */
async function spawnChild(command: string, args: string[], options: SpawnOptions): Promise<ChildProcess> {
  const spawnOptions = {
    env: options.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
    windowsHide: true,
  };
  // On Windows, cross-spawn resolves npx.cmd and friends without a shell.
  const child =
    process.platform === 'win32'
      ? (await import('cross-spawn')).default(command, args, spawnOptions)
      : spawn(command, args, spawnOptions);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === 'ENOENT'
          ? 'Check that the command is installed and on PATH, or give its full path.'
          : error.code === 'EACCES'
            ? 'The file is not executable: check its permissions, or run it through its interpreter (node, python).'
            : 'Check the command and its arguments.';
      reject(new AirlockError('AIRLOCK_SPAWN_FAILED', `cannot start server command ${quote(command)}: ${error.code ?? error.message}`, { hint, cause: error }));
    });
  });
  return child;
}

/**
 * The hub (docs/hub.md): one long-lived airlock per user and configuration directory, listening
 * on a private Unix socket. A shim attaches with a header line naming a `connect` or `run` command
 * line; the hub runs that command in this process exactly as the CLI would (the same commander
 * program, the same pipeline), with the shim's bytes as its stdin and stdout, the client's
 * environment and working directory, and its stderr lines and exit code sent back on the shim's
 * second (control) connection. This slice keeps one upstream per attached client: nothing is
 * shared yet, so each client gets what it gets from an in-process command.
 *
 * One hub, even when many shims start one at once: the hub binds its socket holding a process
 * lock, after checking that no live hub answers on it; a socket that refuses connections was left
 * by a hub that died, and is replaced. The hub exits after `idleMs` with nothing attached.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { AirlockError, ExitCode } from '../errors.js';
import type { Logger } from '../log.js';
import { createProcessLocks } from '../store/process-lock.js';
import type { ChildReaper } from '../transports/child-reaper.js';
import { ChildrenFile } from './hub-children.js';
import type { Invocation } from '../cli/invocation.js';
import { attachable, HUB_PROTOCOL, prepareHubDir, type AttachHeader, type AttachReply, type HubPaths, type HubStatus } from './hub-endpoint.js';
import { groupMembers } from './hub-children.js';
import { SharedUpstreams } from './shared-upstreams.js';

/** The first line of a connection: an attach header carries the client's environment, so it may be large, not unbounded. */
const MAX_HEADER_BYTES = 1024 * 1024;
const HEADER_WAIT_MS = 10_000;
/** An accepted attach whose control connection does not follow within this is dropped. */
const CONTROL_WAIT_MS = 10_000;
/** Attaches accepted and waiting for their control connection, at most; past it one is refused. */
const MAX_PENDING = 64;
/** stderr a shim leaves unread on its control connection, at most; past it lines are dropped (and counted). */
const MAX_UNREAD_STDERR = 1024 * 1024;
/** On stop, attached commands get this long to end before the hub exits anyway (their children are killed). */
const STOP_GRACE_MS = 10_000;

export interface HubOptions {
  paths: HubPaths;
  /** Exit after this long with no client attached (0: never). */
  idleMs: number;
  /** A shared server with no client left stops after this long (0: at once). */
  serverIdleMs: number;
  version: string;
  log: Logger;
  /** Runs one command line for an attached client (cli/main.ts's main). */
  run: (argv: string[], io: Invocation) => Promise<number>;
}

interface Attach {
  id: string;
  header: AttachHeader;
  data: Socket;
  stop: () => void;
  done?: Promise<void>;
  attachedAt: Date;
  /** The reapers of this client's command: the servers it spawned. */
  reapers: ChildReaper[];
  /** An error nobody caught came from this command: what it said (the session ends with exit 1). */
  fault?: string;
  /** End the attach now with this exit code (a faulted command that does not stop in time). */
  finish?: (code: number) => void;
}

/** Which attach's command an asynchronous callback belongs to: an uncaught error is charged to it. */
const attachContext = new AsyncLocalStorage<string>();

/** More internal errors than this within a minute and the hub stops instead of draining. */
const MAX_FAULTS_PER_MINUTE = 20;

export class Hub {
  private server: Server | undefined;
  private readonly pending = new Map<string, { header: AttachHeader; data: Socket; timer: NodeJS.Timeout }>();
  private readonly attached = new Map<string, Attach>();
  private readonly reapers = new Set<ChildReaper>();
  private idleTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private resolveStopped: () => void = () => undefined;
  /** Settles when the hub has stopped (idle, `hub stop`, a signal). */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));
  private socketIno: number | undefined;
  private readonly children: ChildrenFile;
  private readonly startedAt = new Date();
  private draining = false;
  private readonly upstreams: SharedUpstreams;
  private faults: number[] = [];

  constructor(private readonly options: HubOptions) {
    this.children = new ChildrenFile(options.paths.childrenPrefix, options.log);
    // The shared servers outlive the client that started them: the hub's own reaper tracks them.
    const reaper = this.children.reaper();
    this.reapers.add(reaper);
    this.upstreams = new SharedUpstreams({ log: options.log, reaper, lingerMs: options.serverIdleMs });
  }

  get clients(): number {
    return this.attached.size;
  }

  /** Bind the socket; false when another hub already answers on it. */
  async listen(): Promise<boolean> {
    const { paths, log } = this.options;
    const problem = prepareHubDir(paths.dir);
    if (problem) throw new AirlockError('AIRLOCK_LISTEN_FAILED', `the hub's directory is not safe: ${problem}`, { hint: 'Fix or remove that directory (mkdir -m 700), or set MCP_AIRLOCK_HUB_DIR to a private one.' });
    const locks = createProcessLocks({ dir: join(paths.dir, 'locks'), log });
    const server = await locks.withLock(`hub ${paths.socket}`, async () => {
      if (await answers(paths.socket)) return undefined;
      // A hub before this one was killed (kill -9) with servers running: they end now, before this
      // hub accepts anyone (a client attached meanwhile would have its server counted as left over).
      ChildrenFile.endLeftovers(paths.childrenPrefix, log);
      try {
        unlinkSync(paths.socket);
        log.info(`replaced a stale hub socket ${paths.socket} (its hub is gone)`);
      } catch {
        // none there
      }
      const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
      // The socket is created 0600 (umask while binding), so it is never reachable by others, even briefly.
      const umask = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(paths.socket, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } finally {
        process.umask(umask);
      }
      chmodSync(paths.socket, 0o600);
      return server;
    });
    if (!server) return false;
    this.server = server;
    this.socketIno = statSync(paths.socket).ino;
    server.on('error', (error) => log.error(`hub socket: ${error.message}`));
    log.info(`hub ${this.options.version} listening on ${paths.socket} (pid ${process.pid})`);
    this.armIdle();
    return true;
  }

  /** Stop accepting, stop every attached command (bounded), remove the socket, settle `stopped`. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.options.log.info(`hub stopping: ${reason}`);
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.server?.close();
      this.removeSocket();
      for (const { data, timer } of this.pending.values()) {
        clearTimeout(timer);
        data.destroy();
      }
      this.pending.clear();
      const running = [...this.attached.values()];
      for (const attach of running) attach.stop();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
      await Promise.race([Promise.all(running.map((a) => a.done)), grace]);
      // Shared servers close as a command's own do (stdin, then signals), within the same grace.
      await Promise.race([this.upstreams.closeAll(), new Promise<void>((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref())]);
      this.killChildren();
      this.children.remove();
      this.resolveStopped();
    })();
    return this.stopping;
  }

  /** Every child process group a command started and did not end yet: killed now (exit hooks, a hard stop). */
  killChildren(): void {
    for (const reaper of this.reapers) reaper.killAllNow('SIGKILL');
  }

  private removeSocket(): void {
    const { socket } = this.options.paths;
    try {
      // Only our own socket: a hub that replaced this one (after ours was taken for stale) keeps its.
      if (this.socketIno !== undefined && statSync(socket).ino === this.socketIno) unlinkSync(socket);
    } catch {
      // already gone
    }
  }

  /**
   * A newer airlock's shim asks this hub to make way: stop accepting and give up the socket now
   * (the newer hub binds it), let the attached commands run to their end, then exit.
   */
  private drain(why: string): void {
    if (this.draining || this.stopping) return;
    this.draining = true;
    this.options.log.info(`draining ${why}: no new clients; exiting once the ${this.attached.size} attached end`);
    this.server?.close();
    this.removeSocket();
    if (this.attached.size === 0 && this.pending.size === 0) void this.stop('drained');
  }

  /**
   * An error nobody caught (the process's uncaughtException and unhandledRejection, `hub start`).
   * It is charged to the attach whose command it came from (its async context): that session ends
   * with exit 1 and says why; the others go on. What the error left behind is not known, so the hub
   * also drains: new clients start a new hub, and this one exits once the attached have ended. A
   * storm of them stops the hub.
   */
  fault(error: unknown, origin: string): void {
    const id = attachContext.getStore();
    const attach = id === undefined ? undefined : this.attached.get(id);
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.options.log.error(`internal error (${origin})${attach ? ` in the command of client ${attach.id} (pid ${attach.header.client.pid})` : ''}: ${text}`);
    const now = Date.now();
    this.faults = [...this.faults.filter((at) => now - at < 60_000), now];
    if (this.faults.length > MAX_FAULTS_PER_MINUTE) return void this.stop(`${this.faults.length} internal errors within a minute`);
    if (attach && attach.fault === undefined) {
      attach.fault = error instanceof Error ? error.message : String(error);
      attach.stop();
      // A command broken by the error may never end by itself: its session ends anyway.
      setTimeout(() => attach.finish?.(ExitCode.internal), STOP_GRACE_MS).unref();
    }
    this.drain('after an internal error (a new hub takes the next clients)');
  }

  status(): HubStatus {
    const upstreams = this.upstreams.status().map((upstream) => ({ ...upstream, rss: upstream.pid === undefined ? 0 : groupRss(upstream.pid) }));
    return {
      pid: process.pid,
      version: this.options.version,
      socket: this.options.paths.socket,
      startedAt: this.startedAt.toISOString(),
      rss: process.memoryUsage.rss(),
      idleExitSeconds: Math.round(this.options.idleMs / 1000),
      clients: [...this.attached.values()].map((attach) => ({
        id: attach.id,
        command: commandOf(attach.header.argv),
        target: describeTarget(attach.header.argv),
        pid: attach.header.client.pid,
        host: { pid: attach.header.client.ppid, ...hostName(attach.header.client.ppid) },
        attachedAt: attach.attachedAt.toISOString(),
        servers: [
          ...attach.reapers.flatMap((reaper) => reaper.tracked).map((pid) => ({ pid, rss: groupRss(pid) })),
          ...upstreams.filter((upstream) => upstream.clients.includes(attach.id) && upstream.pid !== undefined).map((upstream) => ({ pid: upstream.pid!, rss: upstream.rss, key: upstream.key })),
        ],
      })),
      upstreams,
    };
  }

  private armIdle(): void {
    if (this.draining && this.attached.size === 0 && this.pending.size === 0) return void this.stop('drained');
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.options.idleMs <= 0 || this.attached.size > 0 || this.pending.size > 0 || this.stopping) return;
    this.idleTimer = setTimeout(() => void this.stop(`no client attached for ${Math.round(this.options.idleMs / 1000)} s`), this.options.idleMs);
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    readFirstLine(socket).then(
      (first) => {
        if (first === undefined) return void socket.destroy();
        if (!first.line.startsWith('{')) return refuseHttp(socket);
        let header: Record<string, unknown>;
        try {
          header = JSON.parse(first.line) as Record<string, unknown>;
        } catch {
          return reply(socket, { ok: false, error: 'the first line is not JSON', exit: ExitCode.usage }, true);
        }
        if (header.airlockHub !== HUB_PROTOCOL) return reply(socket, { ok: false, error: `unknown hub protocol ${String(header.airlockHub)}`, exit: ExitCode.usage, version: this.options.version }, true);
        if (typeof header.control === 'string') return this.attachControl(header.control, socket);
        if (header.status === true) return void socket.end(`${JSON.stringify(this.status())}\n`);
        if (header.stop === true && header.drain === true) {
          // The socket is given up before the answer goes: the asking shim connects again at once.
          const clients = this.attached.size;
          this.drain(`for airlock ${typeof header.version === 'string' ? header.version : 'another version'}`);
          return void socket.end(`${JSON.stringify({ ok: true, draining: true, pid: process.pid, clients })}\n`);
        }
        if (header.stop === true && typeof header.server === 'string') {
          const stopped = this.upstreams.stop(header.server);
          if (stopped.length > 0) this.options.log.info(`stopped server ${stopped.join(', ')} (mcp-airlock hub stop ${header.server})`);
          return void socket.end(`${JSON.stringify({ ok: stopped.length > 0, stopped, pid: process.pid })}\n`);
        }
        if (header.stop === true) {
          socket.end(`${JSON.stringify({ ok: true, stopping: true, pid: process.pid })}\n`);
          return void this.stop('asked to stop (mcp-airlock hub stop)');
        }
        if (first.rest.length > 0) socket.unshift(first.rest);
        this.attachData(header, socket);
      },
      () => socket.destroy(),
    );
  }

  private attachData(raw: Record<string, unknown>, socket: Socket): void {
    const invalid = headerProblem(raw);
    if (invalid) return reply(socket, { ok: false, error: `bad attach header: ${invalid}`, exit: ExitCode.usage }, true);
    const header = raw as unknown as AttachHeader;
    if (header.version !== this.options.version) {
      return reply(socket, { ok: false, error: `the hub runs airlock ${this.options.version}, the shim ${header.version}`, exit: ExitCode.config, version: this.options.version }, true);
    }
    const owner = processOwner(header.client.pid);
    const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
    if (owner !== undefined && uid !== undefined && owner !== uid) {
      return reply(socket, { ok: false, error: `process ${header.client.pid} runs as uid ${owner}, not as the hub's user`, exit: ExitCode.usage }, true);
    }
    if (!attachable(header.argv)) {
      return reply(socket, { ok: false, error: 'the hub runs `connect`, `run` and `mcp-airlock NAME` command lines only', hint: 'Run other commands without the hub.', exit: ExitCode.usage }, true);
    }
    if (this.pending.size >= MAX_PENDING) {
      return reply(socket, { ok: false, error: `${MAX_PENDING} attaches already wait for their second connection`, hint: 'Try again in a few seconds.', exit: ExitCode.upstream }, true);
    }
    const id = randomBytes(12).toString('base64url');
    const timer = setTimeout(() => {
      this.pending.delete(id);
      socket.destroy();
      this.armIdle();
    }, CONTROL_WAIT_MS);
    this.pending.set(id, { header, data: socket, timer });
    if (this.idleTimer) clearTimeout(this.idleTimer);
    reply(socket, { ok: true, id, hub: { pid: process.pid, version: this.options.version } }, false);
  }

  private attachControl(id: string, control: Socket): void {
    const pending = this.pending.get(id);
    if (!pending) return void control.end(`${JSON.stringify({ stderr: 'mcp-airlock: error: no such attach (it timed out)\n' })}\n${JSON.stringify({ exit: ExitCode.usage })}\n`);
    this.pending.delete(id);
    clearTimeout(pending.timer);
    const { header, data } = pending;
    let stopCommand: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stopCommand = resolve));
    let finished = false;
    // The host went away (its shim closed): the command stops, as on SIGTERM in its own process.
    const gone = (): void => {
      if (!finished) stopCommand();
    };
    // The shim never ends its side of the control connection until it exits: its end is the host gone.
    control.on('end', gone);
    control.on('close', gone);
    data.on('close', gone);
    control.on('error', () => undefined);
    control.resume();
    let droppedStderr = 0;
    const writeStderr = (text: string): void => {
      if (!control.writable) return;
      // A shim that stops reading its control connection must not make the hub hold its stderr without end.
      if (control.writableLength > MAX_UNREAD_STDERR) return void droppedStderr++;
      const dropped = droppedStderr > 0 ? `[mcp-airlock] warn: ${droppedStderr} stderr lines were dropped: the shim did not read them\n` : '';
      droppedStderr = 0;
      control.write(`${JSON.stringify({ stderr: dropped + text })}\n`);
    };
    const attach: Attach = { id, header, data, stop: stopCommand, attachedAt: new Date(), reapers: [] };
    const newReaper = (): ChildReaper => {
      const reaper = this.children.reaper();
      attach.reapers.push(reaper);
      return reaper;
    };
    const io: Invocation = {
      stdin: data,
      stdout: data,
      writeStderr,
      stdinIsTTY: false,
      stdoutIsTTY: false,
      env: header.env,
      cwd: header.cwd,
      hosted: { stopped, reapers: this.reapers, newReaper, upstreams: this.upstreams.forClient(id), host: { pid: header.client.ppid, ...hostName(header.client.ppid) } },
    };
    this.attached.set(id, attach);
    this.options.log.debug(`attach ${id}: pid ${header.client.pid} runs ${commandOf(header.argv)}`);
    const finish = (exit: number): void => {
      if (finished) return;
      finished = true;
      this.attached.delete(id);
      let code = exit;
      if (attach.fault !== undefined) {
        code = ExitCode.internal;
        writeStderr(`mcp-airlock: error: an internal error in the hub ended this session: ${attach.fault}\nmcp-airlock: hint: Other hosts' sessions go on; the next command starts a new hub. The hub's log (${this.options.paths.log}) has the details: please report it.\n`);
      }
      this.options.log.debug(`attach ${id} ended with exit code ${code}`);
      // Every byte the command wrote reaches the shim before the exit code does.
      data.end(() => control.end(`${JSON.stringify({ exit: code })}\n`));
      this.armIdle();
    };
    attach.finish = finish;
    // The command runs in the attach's async context: an error nobody catches is charged to it (fault).
    attach.done = attachContext.run(id, () => {
      if (header.env.MCP_AIRLOCK_HUB_TEST_FAULT === '1') {
        // A test hook: an error nobody catches, in this command's context (test/e2e/hub.test.ts).
        setTimeout(() => {
          throw new Error('a fault injected for a test (MCP_AIRLOCK_HUB_TEST_FAULT)');
        }, 300).unref();
      }
      return this.options
        .run(header.argv, io)
        .catch((error: unknown) => {
          writeStderr(`mcp-airlock: error: ${error instanceof Error ? error.message : String(error)}\n`);
          return ExitCode.internal as number;
        })
        .then(finish);
    });
  }
}

/** Whether a live hub answers on this socket (a stale one refuses the connection). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function reply(socket: Socket, answer: AttachReply, end: boolean): void {
  const line = `${JSON.stringify(answer)}\n`;
  if (end) socket.end(line);
  else socket.write(line);
}

/** HTTP on the hub's socket (streamable HTTP for hosts that need no shim) comes with sharing; say so. */
function refuseHttp(socket: Socket): void {
  const body = JSON.stringify({ error: 'HTTP on the hub socket is not served yet; attach with the mcp-airlock shim (--hub auto)' });
  socket.end(`HTTP/1.1 501 Not Implemented\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function readFirstLine(socket: Socket): Promise<{ line: string; rest: Buffer } | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: { line: string; rest: Buffer } | undefined): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      const newline = chunk.indexOf(10);
      if (newline >= 0) {
        chunks.push(chunk.subarray(0, newline));
        return done({ line: Buffer.concat(chunks).toString('utf8'), rest: chunk.subarray(newline + 1) });
      }
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_HEADER_BYTES) done(undefined);
    };
    const onEnd = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), HEADER_WAIT_MS);
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

function headerProblem(header: Record<string, unknown>): string | undefined {
  if (typeof header.version !== 'string') return 'no version';
  if (!Array.isArray(header.argv) || !header.argv.every((a) => typeof a === 'string')) return 'argv must be a list of strings';
  if (typeof header.cwd !== 'string' || !isAbsolute(header.cwd)) return 'cwd must be an absolute path';
  const env = header.env as Record<string, unknown> | undefined;
  if (typeof env !== 'object' || env === null || !Object.values(env).every((v) => typeof v === 'string')) return 'env must map names to strings';
  const client = header.client as { pid?: unknown; ppid?: unknown } | undefined;
  if (typeof client !== 'object' || client === null || !Number.isInteger(client.pid) || !Number.isInteger(client.ppid)) return 'client must give pid and ppid';
  return undefined;
}

/**
 * The uid a process runs as (Linux: /proc/<pid>/status), or undefined where that cannot be read.
 * The socket's mode already keeps other users out; this refuses a header naming another user's process.
 */
export function processOwner(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^Uid:\s+(\d+)/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function commandOf(argv: string[]): 'connect' | 'run' | 'server' {
  if (argv[0] === 'run') return 'run';
  if (argv[0] === 'connect' || /^https?:\/\//i.test(argv[0] ?? '')) return 'connect';
  return 'server';
}

/** What a client's command reaches, without anything secret: a URL's origin and path, a server command's name, or the servers file's name. */
function describeTarget(argv: string[]): string {
  if (commandOf(argv) === 'server') return argv[0]!;
  if (argv[0] === 'run') {
    const command = argv[argv.indexOf('--') + 1] ?? argv[1] ?? '';
    return command.split(/[\\/]/).pop() ?? command;
  }
  const raw = argv[0] === 'connect' ? argv.find((arg, i) => i > 0 && /^https?:\/\//i.test(arg)) : argv[0];
  try {
    const url = new URL(raw ?? '');
    return `${url.origin}${url.pathname}`;
  } catch {
    return 'a remote server';
  }
}

/** The host's executable name (Linux /proc/<pid>/comm), when it can be read. */
function hostName(pid: number): { name?: string } {
  try {
    return { name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
  } catch {
    return {};
  }
}

/** RSS of a process group (bytes), summed over its members (Linux /proc). */
function groupRss(pgrp: number): number {
  let total = 0;
  for (const { pid } of groupMembers(pgrp)) {
    try {
      const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

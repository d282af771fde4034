/**
 * The shim: what an MCP host starts when the hub is on (`--hub auto|require`). It attaches to the
 * user's hub (starting it when none answers), sends one header line (argv, working directory,
 * environment, its pid), and then carries the host's stdin to the hub and the hub's bytes to
 * stdout, untouched. A second connection brings back the command's stderr lines and its exit code.
 * It loads node built-ins and hub-endpoint.ts only: no commander, OAuth, undici or ink.
 *
 * If the hub cannot be reached or started, or runs another airlock version, `auto` returns
 * undefined (the caller runs the command in this process, as without the hub) after one stderr
 * line; `require` fails with exit 6.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { version } from '../version.js';
import { askHub, HUB_PROTOCOL, hubPaths, newerVersion, prepareHubDir, type AttachHeader, type AttachReply, type ControlLine, type HubMode, type HubPaths } from './hub-endpoint.js';


/** How long a started hub gets to answer, and the first reply to come. */
const START_WAIT_MS = 10_000;
const REPLY_WAIT_MS = 10_000;
/** A `starting` file older than this was left by a shim that died while starting the hub. */
const STARTING_STALE_MS = 15_000;
/** Exit code when the hub is required and cannot be used (the socket is airlock's listener). */
const EXIT_NO_HUB = 6;
/** Exit code when the hub went away in the middle of the session (the upstream is gone for the host). */
const EXIT_HUB_LOST = 4;

const say = (level: 'info' | 'error' | 'hint', text: string): void => void process.stderr.write(`[mcp-airlock] ${level}: ${text}\n`);

/** `binPath`: airlock's own entry file, run to start the hub. */
export async function runShim(argv: string[], mode: HubMode, binPath: string): Promise<number | undefined> {
  const paths = hubPaths(process.env);
  const problem = prepareHubDir(paths.dir);
  if (problem) return declined(mode, `the hub's directory is not safe: ${problem}`, 'Fix or remove that directory (mkdir -m 700), or set MCP_AIRLOCK_HUB_DIR to a private one.');
  return attach(argv, mode, binPath, paths, true);
}

async function attach(argv: string[], mode: HubMode, binPath: string, paths: HubPaths, mayReplace: boolean): Promise<number | undefined> {
  const socket = (await tryConnect(paths.socket)) ?? (await startHub(paths, binPath));
  if (!socket) return declined(mode, `the hub did not start (its log: ${paths.log})`, 'Read its log, or run `mcp-airlock hub start` in a terminal to see why.');
  const header: AttachHeader = { airlockHub: HUB_PROTOCOL, version, argv, cwd: process.cwd(), env: stringEnv(process.env), client: { pid: process.pid, ppid: process.ppid } };
  socket.write(`${JSON.stringify(header)}\n`);
  const first = await readLine(socket, REPLY_WAIT_MS);
  if (!first) {
    socket.destroy();
    return declined(mode, 'the hub accepted the connection but did not answer', 'Restart it: mcp-airlock hub stop.');
  }
  let reply: AttachReply;
  try {
    reply = JSON.parse(first.line) as AttachReply;
  } catch {
    socket.destroy();
    return declined(mode, 'the hub answered something that is not an attach reply', 'Restart it: mcp-airlock hub stop.');
  }
  if (!reply.ok) {
    socket.destroy();
    if (reply.version !== undefined && reply.version !== version) {
      // An older hub makes way for this version's (it finishes its own clients first); a newer one is left alone.
      if (mayReplace && newerVersion(version, reply.version) && (await askToDrain(paths.socket))) {
        say('info', `the hub ran airlock ${reply.version}; it finishes its clients and a hub of ${version} starts`);
        return attach(argv, mode, binPath, paths, false);
      }
      return declined(mode, `the hub runs airlock ${reply.version}, this is ${version}`, 'Stop the old hub (mcp-airlock hub stop); the next command starts one of this version.');
    }
    process.stderr.write(`mcp-airlock: error: ${reply.error}\n`);
    if (reply.hint) process.stderr.write(`mcp-airlock: hint: ${reply.hint}\n`);
    return reply.exit;
  }
  const control = await tryConnect(paths.socket);
  if (!control) {
    socket.destroy();
    return declined(mode, 'the hub stopped answering after it accepted the attach', 'Restart it: mcp-airlock hub stop.');
  }
  control.write(`${JSON.stringify({ airlockHub: HUB_PROTOCOL, control: reply.id })}\n`);
  return carry(socket, control, first.rest);
}

/** Pipe the host's stdio through the hub until the command ends; resolve with its exit code. */
function carry(socket: Socket, control: Socket, early: Buffer): Promise<number> {
  return new Promise<number>((resolveExit) => {
    let exitCode: number | undefined;
    let dataEnded = false;
    let controlEnded = false;
    const parentPid = process.ppid;
    const finish = (): void => {
      if (!dataEnded || !controlEnded) return;
      clearInterval(parentWatch);
      if (exitCode === undefined) say('error', 'the hub went away before the command ended');
      resolveExit(exitCode ?? EXIT_HUB_LOST);
    };
    if (early.length > 0) process.stdout.write(early);
    socket.pipe(process.stdout, { end: false });
    socket.on('end', () => {
      dataEnded = true;
      finish();
    });
    socket.on('close', () => {
      dataEnded = true;
      finish();
    });
    socket.on('error', () => undefined);
    process.stdin.pipe(socket);
    process.stdin.on('error', () => socket.end());
    // stdout gone (the host closed its end): nothing more can reach it; let the hub end the command.
    process.stdout.on('error', () => {
      socket.destroy();
      control.destroy();
    });
    let pending = '';
    control.setEncoding('utf8');
    control.on('data', (text: string) => {
      pending += text;
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        let message: ControlLine;
        try {
          message = JSON.parse(line) as ControlLine;
        } catch {
          continue;
        }
        if ('stderr' in message) process.stderr.write(message.stderr);
        else if ('exit' in message) exitCode = message.exit;
      }
    });
    const controlDone = (): void => {
      controlEnded = true;
      finish();
    };
    control.on('end', controlDone);
    control.on('close', controlDone);
    control.on('error', () => undefined);
    // The host died without closing our stdin (it was killed): detach at once.
    const parentWatch = setInterval(() => {
      if (process.ppid !== parentPid) {
        socket.destroy();
        control.destroy();
      }
    }, 1000);
    parentWatch.unref();
  });
}

/** Ask the hub to drain (StopHeader); true once it said it does. */
async function askToDrain(path: string): Promise<boolean> {
  const answer = await askHub(path, { airlockHub: HUB_PROTOCOL, stop: true, drain: true, version }, REPLY_WAIT_MS);
  try {
    return (JSON.parse(answer ?? '{}') as { draining?: boolean }).draining === true;
  } catch {
    return false;
  }
}

function declined(mode: HubMode, why: string, hint: string): number | undefined {
  if (mode === 'require') {
    process.stderr.write(`mcp-airlock: error: --hub require: ${why}\n`);
    process.stderr.write(`mcp-airlock: hint: ${hint} Or use --hub auto, which runs the command in this process when the hub cannot be used.\n`);
    return EXIT_NO_HUB;
  }
  say('info', `not attaching to the hub (${why}); running in this process`);
  return undefined;
}

function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      // A reset later (a hub that went away, one that refused us and closed) is handled where the socket is used; never a crash.
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', () => resolve(undefined));
  });
}

/**
 * Start the hub in the background, unless another shim is already starting it (an exclusive
 * `starting` file), then wait for it to answer.
 */
async function startHub(paths: HubPaths, binPath: string): Promise<Socket | undefined> {
  const mine = claimStart(paths.starting);
  try {
    if (mine) {
      // The shim that started a hub gives up its claim once it got through: look again before starting another.
      const running = await tryConnect(paths.socket);
      if (running) return running;
      const log = openSync(paths.log, 'a', 0o600);
      try {
        const child = spawn(process.execPath, [binPath, 'hub', 'start'], { detached: true, stdio: ['ignore', log, log], cwd: paths.dir, env: process.env });
        child.unref();
      } finally {
        closeSync(log);
      }
    }
    const deadline = Date.now() + START_WAIT_MS;
    while (Date.now() < deadline) {
      const socket = await tryConnect(paths.socket);
      if (socket) return socket;
      await new Promise((resolve) => setTimeout(resolve, 25));
      // A shim that claimed the start and died: take it over once its claim is stale.
      if (!mine && !startingFresh(paths.starting)) return startHub(paths, binPath);
    }
    return undefined;
  } finally {
    if (mine) {
      try {
        unlinkSync(paths.starting);
      } catch {
        // already gone
      }
    }
  }
}

function claimStart(path: string): boolean {
  try {
    closeSync(openSync(path, 'wx', 0o600));
    return true;
  } catch {
    if (startingFresh(path)) return false;
    try {
      unlinkSync(path);
      closeSync(openSync(path, 'wx', 0o600));
      return true;
    } catch {
      return false;
    }
  }
}

function startingFresh(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < STARTING_STALE_MS;
  } catch {
    return false;
  }
}

/** The first line on a socket (up to 64 KiB), and whatever bytes came after it. */
function readLine(socket: Socket, timeoutMs: number): Promise<{ line: string; rest: Buffer } | undefined> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const done = (value: { line: string; rest: Buffer } | undefined): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(10);
      if (newline >= 0) {
        socket.pause();
        return done({ line: buffered.subarray(0, newline).toString('utf8'), rest: buffered.subarray(newline + 1) });
      }
      if (buffered.length > 65_536) done(undefined);
    };
    const onClose = (): void => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

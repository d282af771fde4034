/**
 * The stdio-facing modes (`connect`, `run`): our stdin/stdout on one side, one upstream on the
 * other, until either side ends. Exit 0 when the client closes stdin, 4 when the upstream dies;
 * when the client closes stdin before the server ever answered, the exit code of what failed (4, or
 * 5 for credentials).
 */
import { Bridge } from '../bridge/bridge.js';
import { ExitCode, type AirlockError } from '../errors.js';
import { createStdioInbound } from '../transports/stdio-inbound.js';
import { createOutbound, describeUpstream, upstreamPrincipal, type UpstreamSpec } from '../transports/outbound.js';
import type { CommandContext } from './context.js';
import { supervise } from './lifecycle.js';
import { createPipeline, type PipelineFlags } from './pipeline.js';
import { localUserCaller } from '../policy/caller.js';
import { randomBytes } from 'node:crypto';
import { version } from './context.js';
import { connectedLineStage } from './connected-line.js';
import { processInvocation, type Invocation } from './invocation.js';

/** Who is behind a stdio session, for the policy and the audit record. */
export interface StdioIdentity {
  /** connect: the claims of the token sent upstream (the login's, or a JWT in --header). */
  claims?: () => Record<string, unknown> | undefined;
  /** run: the local OS user, the policy's caller. */
  localUser?: string;
}

/** After the client closes stdin, answers it already asked for are still written to stdout for this long. */
const STDIN_EOF_DRAIN_MS = 10_000;

/** connect: say once, at info level, what the first successful exchange used (connected-line.ts). */
export interface ConnectedReport {
  /** The credentials sent upstream, in words; never a value. */
  auth: () => string;
}

/**
 * The one line a person gets who started `mcp-airlock <url>` (or `run`) in a terminal, where
 * nothing would otherwise show that it waits for JSON-RPC on stdin; undefined when stdin is not a
 * terminal (an MCP host's pipe), so a host never sees it. On stderr: stdout stays JSON-RPC only.
 */
export function waitingNotice(stdinIsTTY: boolean | undefined): string | undefined {
  if (stdinIsTTY !== true) return undefined;
  return 'waiting for an MCP client on stdin: an MCP host (Claude Desktop, Cursor, VS Code) starts this command and speaks JSON-RPC to it (`mcp-airlock connect --help` shows a config line); Ctrl-C stops it';
}

export async function runStdioSession(context: CommandContext, upstream: UpstreamSpec, flags: PipelineFlags, identity: StdioIdentity = {}, report?: ConnectedReport, io: Invocation = processInvocation()): Promise<number> {
  const { log } = context;
  const name = describeUpstream(upstream);
  const principal = upstreamPrincipal(upstream);
  const defaultCaller = identity.localUser === undefined ? undefined : localUserCaller(identity.localUser);
  const pipeline = await createPipeline(flags, { server: name, version, log, principal, claims: identity.claims, defaultCaller, ...(io.hosted?.host ? { host: io.hosted.host } : {}) });
  const inbound = createStdioInbound({ maxLineBytes: context.maxLineBytes, log, input: io.stdin, output: io.stdout });
  // connect: a server that never answered makes the exit code that of the failure (the README's
  // table: 4, or 5 for credentials), not 0, even when the client then closes stdin as usual.
  let reached = false;
  let firstFailure: Error | undefined;
  const onFirstExchange = (failure?: Error): void => {
    if (failure === undefined) reached = true;
    else firstFailure = failure;
  };
  const outbound = createOutbound(upstream, { ...context, onFirstExchange });
  const session = pipeline.forSession({ session: randomBytes(4).toString('hex'), inbound, outbound });
  const { tap } = session;
  const stages = report ? [...session.stages, connectedLineStage({ server: name, outbound, auth: report.auth, write: (line) => log.info(line) })] : session.stages;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const bridge = new Bridge({
    inbound,
    outbound,
    log,
    label: name,
    drainMs: STDIN_EOF_DRAIN_MS,
    stages,
    tap,
    onClosed: (reason, by) => {
      if (by === 'upstream') log.error(`upstream ended: ${reason}`);
      else log.debug(`session ended: ${reason}`);
      if (by === 'upstream') resolveDone(ExitCode.upstream);
      else if (!reached && firstFailure) resolveDone((firstFailure as Partial<AirlockError>).exitCode ?? ExitCode.upstream);
      else resolveDone(ExitCode.ok);
    },
  });
  try {
    await bridge.start();
    log.debug(`bridging stdio <-> ${name}`);
    const notice = waitingNotice(io.stdinIsTTY);
    if (notice) log.info(notice);
    return await supervise({
      log,
      reaper: context.reaper,
      done: Promise.race([done, pipeline.failed]),
      shutdown: () => bridge.close('mcp-airlock was asked to stop', 'airlock'),
      shutdownTimeoutMs: context.killGraceMs * 2 + 1000,
      hosted: io.hosted,
    });
  } finally {
    // Every record is on disk before the process exits, however the session ended.
    await bridge.close('mcp-airlock is exiting', 'airlock');
    await pipeline.close();
  }
}

/**
 * One place that turns "what is upstream" into a fresh outbound Transport. `serve` calls it once
 * per client session, the stdio modes once.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { EraAdapter, type ProtocolChoice } from '../eras/era-adapter.js';
import type { AuditPrincipal } from '../audit/audit-record.js';
import { principalFromHeaders } from '../audit/principal.js';
import type { Logger } from '../log.js';
import { describeCommandSafely } from '../redact.js';
import { ChildProcessTransport } from './child-process-transport.js';
import type { ChildReaper } from './child-reaper.js';
import type { CredentialWaits } from './credential-waits.js';
import { sortedEnv, type UpstreamLeaser } from '../hub/shared-upstreams.js';
import { basename } from 'node:path';
import type { HttpRequester } from './http-request.js';
import { RemoteTransport, type RemoteTransportMode } from './remote-transport.js';

export type UpstreamSpec = (
  | {
      kind: 'command';
      command: string;
      args: string[];
      /** The child's environment (child-env.ts); default airlock's own. */
      env?: NodeJS.ProcessEnv;
      /** Its working directory; default airlock's own. */
      cwd?: string;
      /** In the hub: this client may share a 2025 session of the server with others that allow it (--share). */
      share?: boolean;
      /** In the hub: stop the server after this long with no call in flight; the next call starts it again (--idle-stop). */
      idleStopMs?: number;
    }
  | {
      kind: 'remote';
      url: URL;
      mode: RemoteTransportMode;
      headers: Record<string, string>;
      request: HttpRequester;
      auth?: { principalNow(): AuditPrincipal | undefined };
      /** The exchanges `request` holds for a login or step-up (its base requester wrapped with `under`): request deadlines wait for them. */
      credentialWaits?: CredentialWaits;
      /** In the hub: what must be equal for two clients to share this server's connection and login (SharedSpec.identity). */
      shareIdentity?: unknown;
      /** In the hub: this client may share a 2025 session with others that allow it (--share). */
      share?: boolean;
      /** In the hub: close the connection after this long with no call in flight; the next call opens it again (--idle-stop). */
      idleStopMs?: number;
    }
) & {
  /** Which MCP era the server speaks (--protocol): found from the first exchange ('auto', the default), or given. */
  protocol?: ProtocolChoice;
};

export interface OutboundContext {
  log: Logger;
  reaper: ChildReaper;
  /** --max-message: the largest message taken from a server (a stdio line, an SSE event, a JSON body). */
  maxLineBytes: number;
  killGraceMs: number;
  /**
   * Told how the remote server's first exchange went: once with nothing when the server first
   * answers, and with the error each time a message fails before it ever has (connect's exit code).
   */
  onFirstExchange?: (failure?: Error) => void;
  /** --request-timeout in ms for a remote server (0: none); undefined: 10 min for calls, 60 s for the first exchange. */
  requestTimeoutMs?: number;
  /** The session or lane the connection is for (serve): a spawned server's stderr lines are labelled with it. */
  label?: string;
  /** Where a spawned server's stderr lines go; default airlock's own stderr. */
  writeStderr?: (text: string) => void;
  /** In the hub: spawned servers are leased from the hub's shared upstreams (src/hub/shared-upstreams.ts). */
  upstreams?: UpstreamLeaser;
}

/** The outbound side of a session: the transport to the server, behind the era adapter that translates when the eras differ. */
export function createOutbound(spec: UpstreamSpec, context: OutboundContext): Transport {
  // The legacy HTTP+SSE transport exists only in the 2025 era: a server reached over it is a 2025 server.
  const legacyTransport = spec.kind === 'remote' && spec.mode === 'sse';
  return new EraAdapter(createTransport(spec, context), { protocol: spec.protocol ?? 'auto', knownLegacy: legacyTransport, log: context.log });
}

function createTransport(spec: UpstreamSpec, context: OutboundContext): Transport {
  if (spec.kind === 'command') {
    const child = (writeStderr: ((text: string) => void) | undefined, reaper: ChildReaper): ChildProcessTransport =>
      new ChildProcessTransport({
        command: spec.command,
        args: spec.args,
        env: spec.env,
        cwd: spec.cwd,
        writeStderr,
        maxLineBytes: context.maxLineBytes,
        killGraceMs: context.killGraceMs,
        log: context.log,
        reaper,
        label: context.label,
      });
    const { upstreams } = context;
    if (upstreams && spec.env && spec.cwd !== undefined) {
      const shared = { identity: ['command', spec.command, spec.args, spec.cwd, sortedEnv(spec.env)], label: basename(spec.command), share: spec.share === true, idleStopMs: spec.idleStopMs };
      return upstreams.lease(shared, { log: context.log, writeStderr: context.writeStderr }, (io) => child(io.writeStderr, io.reaper));
    }
    return child(context.writeStderr, context.reaper);
  }
  if (context.upstreams && spec.shareIdentity !== undefined) {
    const shared = { identity: ['remote', spec.shareIdentity], label: describeUpstream(spec), share: spec.share === true, idleStopMs: spec.idleStopMs };
    return context.upstreams.lease(shared, { log: context.log, writeStderr: context.writeStderr }, () => remote(spec, context));
  }
  return remote(spec, context);
}

function remote(spec: Extract<UpstreamSpec, { kind: 'remote' }>, context: OutboundContext): RemoteTransport {
  return new RemoteTransport({
    url: spec.url,
    mode: spec.mode,
    headers: spec.headers,
    request: spec.request,
    log: context.log,
    maxMessageBytes: context.maxLineBytes,
    onFirstExchange: context.onFirstExchange,
    requestTimeoutMs: context.requestTimeoutMs,
    credentialWaits: spec.credentialWaits,
  });
}

/**
 * Name the upstream for logs and the audit log, without secrets: no query string or userinfo in a
 * URL; `--api-key X`, `TOKEN=X` and token-shaped words in a command line replaced.
 */
export function describeUpstream(spec: UpstreamSpec): string {
  if (spec.kind === 'command') return describeCommandSafely(spec.command, spec.args);
  return `${spec.url.protocol}//${spec.url.host}${spec.url.pathname}`;
}

/** Who the upstream calls are made as, for the audit record: the OAuth login's principal, or what a static bearer JWT header claims. */
export function upstreamPrincipal(spec: UpstreamSpec): () => AuditPrincipal | null {
  if (spec.kind !== 'remote') return () => null;
  const { auth } = spec;
  if (auth) return () => auth.principalNow() ?? null;
  const fromHeader = principalFromHeaders(spec.headers) ?? null;
  return () => fromHeader;
}

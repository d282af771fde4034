/**
 * The HTTP face of `serve`: one server that speaks streamable HTTP at `/mcp` (2026-07-28 and the
 * session era 2025-03-26 .. 2025-11-25) and the legacy HTTP+SSE transport (2024-11-05) at `/sse` +
 * `/messages`, at once. Every client session gets its own outbound connection (its own child
 * process for a stdio server), bridged by a `Bridge`. Sessions end on DELETE, on an idle timeout,
 * when an SSE client disconnects, or when their upstream dies (the client then gets 404 and
 * re-initializes, as the spec describes).
 *
 * 2026-07-28 requests (the `MCP-Protocol-Version` header or the body's `_meta` says so) have no
 * session: they are checked as a modern server checks them (one message per POST, the `_meta`
 * envelope, headers that match the body) and travel on the lane of their caller's identity, one
 * upstream connection per identity (modern-http-lane.ts); GET and DELETE without a session get 405.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { Bridge } from '../bridge/bridge.js';
import type { MessageTap, Stage } from '../bridge/stage.js';
import type { AuditPrincipal } from '../audit/audit-record.js';
import { sessionOwner, type AuthVerdict, type InboundAuth } from '../policy/inbound-auth.js';
import type { HttpPolicyRefusal } from '../policy/rate-limit.js';
import { classify, errorResponse, parseFrame, RpcErrorCode, type Classified, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import { AirlockError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { readBody, RequestGuard, safeRequestTarget, sendJson, sendRpcError } from './http-guard.js';
import { SseServerSession } from './sse-server-session.js';
import { ModernHttpLane } from './modern-http-lane.js';
import { DEFAULT_UNREAD_BUDGET_BYTES, UnreadBudget } from './unread-budget.js';
import { isModernPost, modernPostProblem } from './modern-post-check.js';
import { StreamableHttpServerSession } from './streamable-http-server-session.js';

export interface HttpPaths {
  mcp: string;
  sse: string;
  messages: string;
  health: string;
  /** 200 while new clients are taken, 503 while draining (a load balancer's readiness check). */
  ready?: string;
}

export interface HttpInboundOptions {
  host: string;
  port: number;
  paths: HttpPaths;
  maxBodyBytes: number;
  allowedOrigins: string[];
  allowedHosts: string[];
  /** A streamable HTTP session with no request, no open stream and no call running for this long ends. 0: never. */
  sessionIdleMs: number;
  maxSessions: number;
  /** Bytes all 2026-07-28 lanes together may leave in unread responses (unread-budget.ts); default 64 MiB. */
  unreadBudgetBytes?: number;
  log: Logger;
  /**
   * Make the outbound side for a new session (not yet started). `callerToken` is the access token
   * the session's caller presents now (inbound OAuth), for RFC 8693 exchange only.
   */
  createUpstream: (callerToken: () => string | undefined, label: string) => Transport;
  /** The stages and tap of a new session (each session gets its own); `principal` says who is calling. */
  createPipeline: (session: string, inbound: Transport, outbound: Transport, principal: () => AuditPrincipal | null) => { stages: Stage[]; tap: MessageTap | undefined };
  version: string;
  /**
   * Credentials every MCP request must carry (serve --auth-token-*, --oauth-*), and RFC 9728
   * protected resource metadata to serve at each of its `paths`; built once the address is known.
   */
  auth?: (baseUrl: string) => { auth: InboundAuth; resourceMetadata?: { paths: string[]; document: Record<string, unknown> } };
  /** The policy's look at a POST before its session sees it (src/policy/rate-limit.ts): 429 for a call over a rate limit. */
  policyRefusal?: (messages: JSONRPCMessage[], principal: AuditPrincipal | null) => HttpPolicyRefusal | undefined;
}

interface Session {
  id: string;
  /** 'modern': the lane of one caller identity's 2026-07-28 requests (no protocol session). */
  kind: 'http' | 'sse' | 'modern';
  /** Who opened it (issuer + subject of the token); later requests must come from the same one. */
  owner: string | null;
  principal: AuditPrincipal | null;
  /** The caller's current access token (it may refresh it between requests). */
  token: string | undefined;
  transport: StreamableHttpServerSession | SseServerSession | ModernHttpLane;
  bridge: Bridge;
  /** The audit tap, to record what airlock refuses before the bridge sees it. */
  tap: MessageTap | undefined;
  lastActive: number;
  openStreams: number;
}

export interface HttpInboundServer {
  url: string;
  port: number;
  /**
   * Stop taking new work (a new session or a 2026 request gets 503 with Retry-After; the readiness
   * path says 503) and wait, at most `timeoutMs`, for the calls in flight. Resolves with how many
   * sessions still had calls when it stopped waiting. Requests of existing 2025 sessions still pass:
   * a client's answer to a question, its cancellation, its stream.
   */
  drain(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/** How long a client is told to wait before it tries again (on another replica, behind a balancer). */
const DRAIN_RETRY_AFTER_SECONDS = 1;

export async function startHttpInbound(options: HttpInboundOptions): Promise<HttpInboundServer> {
  const { log, paths } = options;
  const sessions = new Map<string, Session>();
  let draining = false;
  const unreadBudget = new UnreadBudget(options.unreadBudgetBytes ?? DEFAULT_UNREAD_BUDGET_BYTES, (bytes) =>
    log.warn(`a 2026-07-28 caller left ${bytes} bytes of answers unread past the server's budget (${options.unreadBudgetBytes ?? DEFAULT_UNREAD_BUDGET_BYTES} bytes): its response is closed`),
  );
  let guard: RequestGuard;
  let inboundAuth: InboundAuth | undefined;
  let resourceMetadata: { paths: string[]; document: Record<string, unknown> } | undefined;
  /** A session of this kind that is not closing (a closing one waits for its child to exit). */
  const liveSession = (id: string, kind: Session['kind']): Session | undefined => {
    const session = sessions.get(id);
    return session && session.kind === kind && !session.transport.isClosed ? session : undefined;
  };

  const openSession = async (
    kind: Session['kind'],
    transport: Session['transport'],
    id: string,
    caller: Caller,
  ): Promise<Session> => {
    // A lane's key names its caller's identity: its logs and audit records use the lane's own short id.
    const shortId = kind === 'modern' ? (transport as ModernHttpLane).label : id.slice(0, 8);
    const label = kind === 'modern' ? `lane ${shortId}` : `session ${shortId}`;
    const session = { owner: ownerOf(caller), principal: caller.principal, token: caller.token } as Session;
    const outbound = options.createUpstream(() => session.token, label);
    const { stages, tap } = options.createPipeline(shortId, transport, outbound, () => session.principal);
    const bridge = new Bridge({
      inbound: transport,
      outbound,
      stages,
      tap,
      log,
      label,
      relateServerMessages: kind !== 'sse',
      onClosed: (reason) => {
        sessions.delete(id);
        log.info(`${label} ended (${reason}); ${sessions.size} open`);
      },
    });
    Object.assign(session, { id, kind, transport, bridge, tap, lastActive: Date.now(), openStreams: 0 });
    await bridge.start();
    return session;
  };

  /**
   * No call in flight that anyone waits for: a session that can give up its slot. A 2025 session
   * whose calls still run but whose client holds no stream to hear them (every POST stream and the
   * GET stream closed: the client left mid-call, or never answers a question the server asked)
   * counts as free too; otherwise such sessions would hold every slot for good.
   */
  const noCallInFlight = (session: Session): boolean => {
    if (session.kind === 'modern') return session.bridge.pendingCount === 0 && (session.transport as ModernHttpLane).openCalls === 0;
    if (session.bridge.pendingCount === 0) return true;
    return session.kind === 'http' && !(session.transport as StreamableHttpServerSession).reachable;
  };
  const lastActiveOf = (session: Session): number =>
    session.kind === 'modern' ? Math.max(session.lastActive, (session.transport as ModernHttpLane).lastActive) : session.lastActive;

  /**
   * Make room for a new session of `caller`: at the limit (--max-sessions), the least recently
   * active session with no call in flight ends (most clients never send DELETE, and their idle
   * sessions would hold every slot until the idle timeout); with inbound auth one caller may hold
   * at most half the slots, so it cannot take them all. Returns why there is no room, or undefined.
   */
  const makeRoom = (caller: Caller): string | undefined => {
    const owner = ownerOf(caller);
    const perCaller = owner === null ? options.maxSessions : Math.max(1, Math.ceil(options.maxSessions / 2));
    const own = owner === null ? [] : [...sessions.values()].filter((session) => session.owner === owner && !session.transport.isClosed);
    const pool = own.length >= perCaller ? own : sessions.size >= options.maxSessions ? [...sessions.values()] : [];
    if (pool.length === 0) return undefined;
    const victim = pool.filter((session) => !session.transport.isClosed && noCallInFlight(session)).sort((a, b) => lastActiveOf(a) - lastActiveOf(b))[0];
    if (!victim) {
      return own.length >= perCaller
        ? `this caller already holds ${own.length} sessions (half of --max-sessions ${options.maxSessions}), all with calls in flight; end one (DELETE) or wait`
        : `too many sessions (${options.maxSessions}, --max-sessions), all with calls in flight; close one or raise the limit`;
    }
    const idleFor = Math.round((Date.now() - lastActiveOf(victim)) / 1000);
    log.info(`${victim.kind === 'modern' ? `lane ${(victim.transport as ModernHttpLane).label}` : `session ${victim.id.slice(0, 8)}`} ends to make room for a new one (idle for ${idleFor} s; --max-sessions ${options.maxSessions})`);
    sessions.delete(victim.id); // its slot is free now; its child may take a moment to exit
    void victim.bridge.close(`ended to make room (--max-sessions ${options.maxSessions})`, 'airlock');
    return undefined;
  };

  /**
   * A live session the caller may use: sessions are bound to who opened them (MCP security best
   * practices, "Session Hijacking"), and someone else's looks like no session at all.
   */
  const sessionFor = (id: string, kind: Session['kind'], caller: Caller): Session | undefined => {
    const session = liveSession(id, kind);
    if (!session || session.owner !== ownerOf(caller)) return undefined;
    session.principal = caller.principal; // a refreshed token may carry new scopes
    session.token = caller.token;
    return session;
  };

  /**
   * Refuse a POST whose tools/call needs a scope the caller's token lacks (403, for step-up). The
   * refusal is answered at the HTTP layer, so the bridge never sees the call: it is handed to the
   * session's audit tap here, as a call airlock denied.
   */
  const toolScopeRefusal = async (res: ServerResponse, messages: JSONRPCMessage[], caller: Caller, session: Session): Promise<boolean> => {
    if (!inboundAuth) return false;
    for (const message of messages) {
      if (!('method' in message) || message.method !== 'tools/call') continue;
      const name = (message.params as { name?: unknown } | undefined)?.name;
      const verdict = typeof name === 'string' ? inboundAuth.checkToolScope(name, caller.scopes) : undefined;
      if (verdict && !verdict.ok) {
        const id = 'id' in message ? (message.id as RequestId) : null;
        if (session.tap && id !== null) {
          session.tap.fromClient(message);
          const answer = errorResponse(id, RpcErrorCode.invalidRequest, verdict.message, { airlock: 'AIRLOCK_INSUFFICIENT_SCOPE', tool: name });
          // With --audit-sync the record is on disk before the refusal goes out, as for any answer.
          await session.tap.sending(answer, 'client', true)?.catch((error: unknown) => log.error(`audit: ${describeError(error)}`));
        }
        refuse(res, verdict, id);
        return true;
      }
    }
    return false;
  };

  /**
   * Refuse a POST the policy refuses at the HTTP layer (a tools/call over a rate limit: 429 with
   * Retry-After), handing the call and its answer to the session's audit tap as a denial.
   * Synchronous, right before handlePost: the policy's look and its stage's count of the call
   * happen in one turn, so concurrent requests cannot both pass on the last token.
   */
  const policyRefused = (res: ServerResponse, messages: JSONRPCMessage[], session: Session): boolean => {
    const refusal = options.policyRefusal?.(messages, session.principal);
    if (!refusal) return false;
    session.tap?.fromClient(refusal.request);
    // With --audit-sync the record is on disk before the refusal goes out, as for any answer.
    const recorded = session.tap?.sending(refusal.answer, 'client', true)?.catch((error: unknown) => log.error(`audit: ${describeError(error)}`));
    void Promise.resolve(recorded).then(() => sendJson(res, refusal.status, refusal.answer, refusal.headers));
    return true;
  };

  const handleMcp = async (req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> => {
    const sessionId = req.headers['mcp-session-id'];
    if (req.method === 'POST') {
      const messages = await readMessages(req, res, options.maxBodyBytes);
      if (messages === undefined) return;
      if (isModernPost(req, messages)) return handleModernPost(req, res, messages, caller);
      if (typeof sessionId === 'string') {
        const session = sessionFor(sessionId, 'http', caller);
        if (!session) return sendRpcError(res, 404, -32001, 'Session not found: it ended or never existed; initialize a new one');
        session.lastActive = Date.now();
        if (await toolScopeRefusal(res, messages, caller, session)) return;
        if (policyRefused(res, messages, session)) return;
        return (session.transport as StreamableHttpServerSession).handlePost(req, res, messages);
      }
      const first = messages[0];
      const initId = messages.length === 1 && first && 'method' in first && first.method === 'initialize' && 'id' in first ? first.id : undefined;
      if (initId === undefined) {
        const id = first && 'id' in first && messages.length === 1 ? (first.id as RequestId) : null;
        return sendRpcError(res, 400, RpcErrorCode.invalidRequest, 'Bad Request: Mcp-Session-Id header is required (only initialize may come without one; a 2026-07-28 request carries its version in params._meta)', id);
      }
      const full = makeRoom(caller);
      if (full) return sendRpcError(res, 503, RpcErrorCode.upstreamError, full, initId);
      const id = randomUUID();
      const transport = new StreamableHttpServerSession(id);
      let session: Session;
      try {
        session = await openSession('http', transport, id, caller);
      } catch (error) {
        const failure = error instanceof AirlockError ? error : new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', describeError(error), { cause: error });
        log.error(`cannot open a session: ${failure.message}${failure.hint ? ` (${failure.hint})` : ''}`);
        return sendRpcError(res, 502, RpcErrorCode.upstreamError, `mcp-airlock could not start the upstream server: ${failure.message}`, initId);
      }
      sessions.set(id, session);
      log.info(`session ${id.slice(0, 8)} opened (streamable HTTP); ${sessions.size} open`);
      return transport.handlePost(req, res, messages);
    }
    if (req.method === 'GET' || req.method === 'DELETE') {
      if (typeof sessionId !== 'string') {
        // 2026-07-28 has neither (streamable-http.mdx "Earlier Streamable HTTP Revisions"); a session-era client always sends its session id.
        res.setHeader('Allow', 'POST');
        return sendRpcError(res, 405, RpcErrorCode.invalidRequest, `Method ${req.method} not allowed on ${paths.mcp} without an Mcp-Session-Id (2026-07-28 has no GET stream and no sessions)`);
      }
      const session = sessionFor(sessionId, 'http', caller);
      if (!session) return sendRpcError(res, 404, -32001, 'Session not found: it ended or never existed; initialize a new one');
      session.lastActive = Date.now();
      if (req.method === 'GET') {
        session.openStreams++;
        res.once('close', () => {
          session.openStreams--;
          session.lastActive = Date.now();
        });
        return (session.transport as StreamableHttpServerSession).handleGet(res);
      }
      res.writeHead(200).end();
      return session.bridge.close('client ended the session (DELETE)', 'client');
    }
    res.setHeader('Allow', 'GET, POST, DELETE');
    return sendRpcError(res, 405, RpcErrorCode.invalidRequest, `Method ${req.method} not allowed on ${paths.mcp}`);
  };

  /**
   * A 2026-07-28 POST: checked as a modern server checks it, then handed to its caller's lane (one
   * per identity, opened on first use). The lane's id is derived from the identity, so the same
   * caller always lands on the same upstream connection, and another caller never does.
   */
  const handleModernPost = async (req: IncomingMessage, res: ServerResponse, messages: JSONRPCMessage[], caller: Caller): Promise<void> => {
    const id = laneKey(caller);
    let lane = sessionFor(id, 'modern', caller);
    const problem = modernPostProblem(req, messages, lane?.transport as ModernHttpLane | undefined);
    if (problem) return sendJson(res, problem.status, errorResponse(problem.id, problem.code, problem.message, problem.data));
    if (!lane) {
      const full = makeRoom(caller);
      if (full) return sendRpcError(res, 503, RpcErrorCode.upstreamError, full, requestIdOf(messages[0]!));
      const transport = new ModernHttpLane(randomUUID().slice(0, 8), { unreadBudget, debug: (text) => log.debug(text) });
      try {
        lane = await openSession('modern', transport, id, caller);
      } catch (error) {
        const failure = error instanceof AirlockError ? error : new AirlockError('AIRLOCK_UPSTREAM_UNREACHABLE', describeError(error), { cause: error });
        log.error(`cannot open an upstream connection: ${failure.message}${failure.hint ? ` (${failure.hint})` : ''}`);
        return sendRpcError(res, 502, RpcErrorCode.upstreamError, `mcp-airlock could not start the upstream server: ${failure.message}`, requestIdOf(messages[0]!));
      }
      sessions.set(id, lane);
      log.info(`2026-07-28 lane for ${caller.principal ? 'an authenticated caller' : 'anonymous callers'} opened; ${sessions.size} open`);
    }
    lane.lastActive = Date.now();
    if (await toolScopeRefusal(res, messages, caller, lane)) return;
    if (policyRefused(res, messages, lane)) return;
    (lane.transport as ModernHttpLane).handlePost(req, res, messages[0]!);
  };

  const handleSse = async (req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> => {
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      // 405 on POST is what tells an auto-detecting client that this is the legacy transport.
      return sendRpcError(res, 405, RpcErrorCode.invalidRequest, `Method ${req.method} not allowed on ${paths.sse}; POST messages to ${paths.messages}`);
    }
    const full = makeRoom(caller);
    if (full) return sendRpcError(res, 503, RpcErrorCode.upstreamError, full);
    const transport = new SseServerSession(res, paths.messages);
    const id = transport.sessionId;
    let session: Session;
    try {
      session = await openSession('sse', transport, id, caller);
    } catch (error) {
      log.error(`cannot open a session: ${describeError(error)}`);
      if (!res.headersSent) sendRpcError(res, 502, RpcErrorCode.upstreamError, `mcp-airlock could not start the upstream server: ${describeError(error)}`);
      else res.end();
      return;
    }
    sessions.set(id, session);
    session.openStreams = 1;
    log.info(`session ${id.slice(0, 8)} opened (HTTP+SSE); ${sessions.size} open`);
  };

  const handleMessages = async (req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller): Promise<void> => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return sendRpcError(res, 405, RpcErrorCode.invalidRequest, `Method ${req.method} not allowed on ${paths.messages}`);
    }
    const session = sessionFor(url.searchParams.get('sessionId') ?? '', 'sse', caller);
    if (!session) return sendRpcError(res, 404, -32001, 'Session not found: open a new SSE stream');
    const messages = await readMessages(req, res, options.maxBodyBytes);
    if (messages === undefined) return;
    session.lastActive = Date.now();
    if (await toolScopeRefusal(res, messages, caller, session)) return;
    for (const message of messages) (session.transport as SseServerSession).receive(message);
    res.writeHead(202, { 'Content-Type': 'text/plain' }).end('Accepted');
  };

  const server: Server = createServer((req, res) => {
    // A request answered before its body was read (refused, too large) must not make the server read
    // the rest: Node would drain it to reuse the connection, however large. Hang up instead.
    res.once('finish', () => {
      if (req.complete) return;
      // Stop reading and say we are done; the socket goes a moment later. Destroying it at once,
      // with unread data in the kernel's buffer, resets the connection and can lose the answer itself.
      req.pause();
      req.socket.end();
      setTimeout(() => req.socket.destroy(), 2000).unref();
    });
    const refusal = guard.refusal(req);
    if (refusal) {
      log.warn(`refused ${req.method} ${JSON.stringify(safeRequestTarget(req.url))}: ${refusal}`);
      return sendRpcError(res, 403, RpcErrorCode.invalidRequest, `Forbidden: ${refusal}`);
    }
    if (guard.applyCors(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://airlock.invalid');
    const mcpRoute = url.pathname === paths.mcp || url.pathname === paths.sse || url.pathname === paths.messages;
    if (draining && mcpRoute && newWork(req, url)) {
      res.setHeader('Retry-After', String(DRAIN_RETRY_AFTER_SECONDS));
      return sendRpcError(res, 503, RpcErrorCode.internalError, 'mcp-airlock is shutting down and takes no new sessions or requests: try again (another replica, behind a load balancer)');
    }
    const route =
      mcpRoute ? authenticated(req, res, url)
      : url.pathname === paths.health && req.method === 'GET' ? Promise.resolve(sendJson(res, 200, { status: 'ok', version: options.version, sessions: sessions.size }))
      : paths.ready !== undefined && url.pathname === paths.ready && req.method === 'GET' ? Promise.resolve(sendJson(res, draining ? 503 : 200, { status: draining ? 'draining' : 'ready' }))
      : resourceMetadata?.paths.includes(url.pathname) && req.method === 'GET' ? Promise.resolve(sendJson(res, 200, resourceMetadata.document, { 'Cache-Control': 'max-age=300' }))
      : Promise.resolve(sendRpcError(res, 404, RpcErrorCode.invalidRequest, `Not found: ${JSON.stringify(url.pathname)}; MCP is served at ${paths.mcp} (streamable HTTP) and ${paths.sse} (SSE)`));
    route.catch((error: unknown) => {
      log.error(`request ${req.method} ${url.pathname} failed: ${describeError(error)}`);
      sendRpcError(res, 500, RpcErrorCode.internalError, `mcp-airlock internal error: ${describeError(error)}`);
    });
  });
  server.keepAliveTimeout = 60_000;

  /** Check credentials, then dispatch; nothing reaches a session (or starts a child) without them. */
  async function authenticated(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    let caller: Caller = ANONYMOUS;
    if (inboundAuth) {
      const verdict = await inboundAuth.check(req);
      if (!verdict.ok) return refuse(res, verdict, null);
      caller = verdict;
    }
    if (url.pathname === paths.mcp) return handleMcp(req, res, caller);
    if (url.pathname === paths.sse) return handleSse(req, res, caller);
    return handleMessages(req, res, url, caller);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new AirlockError('AIRLOCK_LISTEN_FAILED', `cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`, {
        hint: error.code === 'EADDRINUSE' ? 'Another process uses this port: pick another with --port (0 picks a free one).' : 'Check --host and --port.',
        cause: error,
      })),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  guard = new RequestGuard({ host: options.host, port, allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins });
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  if (options.auth) ({ auth: inboundAuth, resourceMetadata } = options.auth(`http://${hostForUrl}:${port}`));

  const sweep = options.sessionIdleMs > 0
    ? setInterval(() => {
        const now = Date.now();
        for (const session of sessions.values()) {
          // Idle here means nothing open at all; an SSE session ends with its stream instead.
          const lastActive = lastActiveOf(session);
          const nothingOpen = session.kind === 'modern' || (session.kind === 'http' && session.openStreams === 0);
          if (nothingOpen && noCallInFlight(session) && now - lastActive > options.sessionIdleMs) {
            void session.bridge.close(`idle for ${Math.round((now - lastActive) / 1000)} s (--session-timeout)`, 'airlock');
          }
        }
      }, Math.min(Math.max(options.sessionIdleMs / 4, 50), 30_000))
    : undefined;
  sweep?.unref();

  /** While draining: what starts new work (a new session, a 2026 request, a new SSE stream) rather than carrying on a session's. */
  function newWork(req: IncomingMessage, url: URL): boolean {
    if (url.pathname === paths.sse) return true;
    if (url.pathname === paths.messages) return false;
    return req.method !== 'DELETE' && req.headers['mcp-session-id'] === undefined;
  }

  return {
    url: `http://${hostForUrl}:${port}`,
    port,
    drain: async (timeoutMs) => {
      draining = true;
      const busy = (): number => [...sessions.values()].filter((session) => !noCallInFlight(session)).length;
      const deadline = Date.now() + timeoutMs;
      log.info(`draining: no new sessions or requests; waiting up to ${Math.round(timeoutMs / 1000)} s for the calls of ${busy()} session${busy() === 1 ? '' : 's'}`);
      while (busy() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      return busy();
    },
    close: async () => {
      if (sweep) clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((s) => s.bridge.close('mcp-airlock is shutting down', 'airlock')));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function requestIdOf(message: JSONRPCMessage): RequestId | null {
  return 'id' in message && (typeof message.id === 'string' || typeof message.id === 'number') ? message.id : null;
}

/** Who is calling: the principal and scopes of a checked token (nobody in particular without auth). */
type Caller = { principal: AuditPrincipal | null; scopes: string[]; token?: string };
const ANONYMOUS: Caller = { principal: null, scopes: [] };

function ownerOf(caller: Caller): string | null {
  return sessionOwner(caller.principal);
}

/**
 * The lane a 2026-07-28 caller's requests travel on: one per (owner, client, actor chain), so two
 * clients or two delegated agents of one user never share an upstream connection, its flow state
 * or its rate limits. Callers without a token (or with one static token) cannot be told apart: they
 * share one lane, where exact routing keeps their calls apart (modern-http-lane.ts).
 */
function laneKey(caller: Caller): string {
  const principal = caller.principal;
  if (!principal) return 'modern:anonymous';
  const actors = (principal.actors ?? []).map((actor) => JSON.stringify([actor.issuer ?? '', actor.subject ?? '', actor.clientId ?? '']));
  return JSON.stringify(['modern', sessionOwner(principal), principal.clientId, actors]);
}

/** Send a refusal: its status, WWW-Authenticate (RFC 6750 §3), and a JSON-RPC error body. */
function refuse(res: ServerResponse, verdict: Extract<AuthVerdict, { ok: false }>, id: RequestId | null): void {
  if (verdict.wwwAuthenticate) res.setHeader('WWW-Authenticate', verdict.wwwAuthenticate);
  for (const [name, value] of Object.entries(verdict.headers ?? {})) res.setHeader(name, value);
  sendRpcError(res, verdict.status, verdict.status === 503 ? RpcErrorCode.upstreamError : RpcErrorCode.invalidRequest, verdict.message, id);
}

/** Read, parse and check a POST body; on failure the 4xx is already sent and undefined returned. */
async function readMessages(req: IncomingMessage, res: ServerResponse, limit: number): Promise<JSONRPCMessage[] | undefined> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    sendRpcError(res, 415, RpcErrorCode.invalidRequest, `Unsupported Media Type: Content-Type must be application/json, got ${JSON.stringify(type)}`);
    return undefined;
  }
  const body = await readBody(req, limit);
  if (!body.ok) {
    sendRpcError(res, body.status, body.status === 413 ? RpcErrorCode.invalidRequest : RpcErrorCode.parseError, body.message);
    return undefined;
  }
  // Streamable HTTP still accepts 2025-03-26 batches; each element must be a message.
  const batch = body.text.trimStart().startsWith('[') ? parseBatch(body.text) : undefined;
  const verdicts = batch ?? [parseFrame(body.text)];
  const messages: JSONRPCMessage[] = [];
  for (const verdict of verdicts) {
    if (!verdict.ok) {
      const prefix = verdict.code === RpcErrorCode.parseError ? '' : 'Invalid Request: ';
      sendRpcError(res, 400, verdict.code, `${prefix}${verdict.reason}`, verdict.id);
      return undefined;
    }
    messages.push(verdict.message);
  }
  return messages;
}

/** A non-empty JSON array: each element classified; otherwise the verdict on the whole text. */
function parseBatch(text: string): Classified[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [parseFrame(text)]; // reports the parse error
  }
  return Array.isArray(value) && value.length > 0 ? value.map((item) => classify(item)) : [classify(value)];
}

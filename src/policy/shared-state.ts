/**
 * The policy's state shared by several `serve` replicas (serve --state): the rate limits' token
 * buckets and the flow rules' history, in one store (Redis or Valkey, redis-state.ts) instead of
 * each process's memory. Behind the same interfaces as the memory versions (`RateBuckets` in
 * rate-limit.ts, `FlowHistory` in session-flow.ts); without --state nothing here is used.
 *
 * A shared store answers later than memory, and it can fail. When it does, calls that need it
 * (tools under a rate limit or a flow rule) are refused with STATE_UNAVAILABLE, naming the store
 * (fail closed, the default), or let through uncounted (`--state-failure open`); calls to other
 * tools never touch it.
 */
import { errorResponse, type JSONRPCMessage, type RequestId } from '../bridge/json-rpc.js';
import type { FlowRule } from './policy-document.js';
import type { RateBuckets } from './rate-limit.js';
import type { FlowHistory } from './session-flow.js';

/** JSON-RPC server-error range: the call may be fine, but airlock cannot count it now. */
export const STATE_UNAVAILABLE_CODE = -32000;
export const STATE_UNAVAILABLE = 'AIRLOCK_STATE_UNAVAILABLE';

export type StateFailureMode = 'open' | 'closed';

export interface SharedPolicyState {
  /** The store without user or password ("redis://10.0.0.5:6379/0"), for refusals and logs. */
  readonly name: string;
  /** What calls that need the store get while it fails. */
  readonly failureMode: StateFailureMode;
  readonly buckets: RateBuckets;
  /**
   * The flow history under `key` (a caller and a session: see pipeline.ts), shared by every
   * replica that serves that caller.
   */
  flowFor(rules: readonly FlowRule[], key: string): FlowHistory;
  /** A call found the store failing: say so (one line per interval, see redis-state.ts). */
  failed(error: unknown): void;
  close(): Promise<void>;
}

/** What needs the store in a call that found it failing: for the refusal's text. */
export interface StateNeed {
  rateLimited: boolean;
  flowRuled: boolean;
}

/** The JSON-RPC error for a call refused because the shared state store failed (--state-failure closed). */
export function stateUnavailableAnswer(id: RequestId, tool: string, store: string, need: StateNeed, cause: string): JSONRPCMessage {
  const what = need.rateLimited && need.flowRuled ? 'rate-limited and under flow rules' : need.rateLimited ? 'rate-limited' : 'under flow rules';
  const text = `mcp-airlock policy: tool ${JSON.stringify(tool)} is ${what}, and the shared state store ${store} cannot be used (${cause}); the call is refused until it is back (--state-failure closed)`;
  return errorResponse(id, STATE_UNAVAILABLE_CODE, text, { airlock: STATE_UNAVAILABLE, tool, store });
}

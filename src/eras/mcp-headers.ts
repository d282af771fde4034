/**
 * The HTTP side of MCP 2026-07-28 (basic/transports/streamable-http.mdx, "Request Metadata"): the
 * `_meta` keys a modern message carries, and the headers a POST mirrors from its body:
 * `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-{Name}`.
 *
 * Everything here is a pure function of the body (plus what `tools/list` taught a
 * {@link ToolHeaderIndex}). Headers follow the body, never a connection's state or a header that
 * came in from the other side: relays that copied a client's version header upstream, or dropped
 * `Mcp-Param-*`, broke servers (ERA-NOTES §5).
 */
import type { JSONRPCMessage } from '../bridge/json-rpc.js';
import { quote } from '../errors.js';
import { decodeHeaderValue, encodeHeaderValue, isEncodableHeaderValue, isPlainHeaderValue } from './header-value.js';
import { ToolHeaderIndex, toolHeaderParams, withoutTools, type HeaderParam, type ToolHeaderParamsResult } from './tool-header-params.js';

export { decodeHeaderValue, encodeHeaderValue, isEncodableHeaderValue, isPlainHeaderValue, ToolHeaderIndex, toolHeaderParams, withoutTools };
export type { HeaderParam, ToolHeaderParamsResult };

/** `_meta` keys of the 2026-07-28 per-request envelope and results (basic/index.mdx, "_meta"). */
export const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
export const META_CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
export const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
export const META_LOG_LEVEL = 'io.modelcontextprotocol/logLevel';
export const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';
export const META_SUBSCRIPTION_ID = 'io.modelcontextprotocol/subscriptionId';

/** The first revision of the modern (stateless, per-request `_meta`) era. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/** Error codes 2026-07-28 added (basic/index.mdx, "Error Codes"); each goes with HTTP 400. */
export const ErrorCode = { headerMismatch: -32020, missingClientCapability: -32021, unsupportedProtocolVersion: -32022 } as const;

const DATED_VERSION = /^\d{4}-\d{2}-\d{2}$/;

/**
 * True for 2026-07-28 and every later dated revision, false for 2024-11-05 through 2025-11-25.
 * Revisions are ISO dates, so the comparison is a string one. The spec names no other form of
 * identifier (its draft schema also says "2026-07-28"; there is no "DRAFT-…" version string), so
 * anything that is not a date is not called modern here.
 */
export function isModernVersion(version: string): boolean {
  return DATED_VERSION.test(version) && version >= MODERN_PROTOCOL_VERSION;
}

type Params = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Method and params of a request or notification; undefined for a response. */
function callOf(message: JSONRPCMessage): { method: string; params: Params | undefined; isRequest: boolean } | undefined {
  const record = message as Record<string, unknown>;
  if (typeof record.method !== 'string') return undefined;
  return { method: record.method, params: isRecord(record.params) ? record.params : undefined, isRequest: 'id' in record };
}

/**
 * The protocol version a request or notification claims in `params._meta` (the only place a
 * message claims the modern era: basic/index.mdx), or undefined: no claim, not a string, or a
 * response.
 */
export function claimedVersion(message: JSONRPCMessage): string | undefined {
  return versionIn(callOf(message)?.params);
}

function versionIn(params: Params | undefined): string | undefined {
  const meta = params?._meta;
  const version = isRecord(meta) ? meta[META_PROTOCOL_VERSION] : undefined;
  return typeof version === 'string' ? version : undefined;
}

/** Which body field `Mcp-Name` mirrors, per method (streamable-http.mdx, "Standard Request Headers"). */
const NAME_SOURCE: Readonly<Record<string, 'name' | 'uri'>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

function nameFieldOf(method: string): 'name' | 'uri' | undefined {
  return Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
}

/** The lowercase header name of an annotated parameter: `mcp-param-{name}`. */
export function paramHeaderName(param: HeaderParam): string {
  return `mcp-param-${param.header.toLowerCase()}`;
}

/** The argument at a parameter's property path; own properties only (never `toString` & co). */
function argumentAt(args: unknown, param: HeaderParam): unknown {
  let node = args;
  for (const key of param.path ?? [param.property]) {
    if (!isRecord(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * An argument as header text before encoding (streamable-http.mdx, "Value Encoding": strings
 * as-is, integers in decimal, booleans lowercase), or undefined when there is no header to send:
 * the value is absent or null (the spec's "omit the header" rows), does not have the declared type
 * (the server's params validation answers that), is an integer outside the JavaScript safe range
 * (tools.mdx), or is a string with a lone surrogate (no UTF-8, so no faithful header).
 */
function argumentText(param: HeaderParam, value: unknown): string | undefined {
  switch (param.type) {
    case 'string':
      return typeof value === 'string' && isEncodableHeaderValue(value) ? value : undefined;
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? String(value) : undefined;
  }
}

function annotatedParams(call: { method: string; params: Params | undefined }, index: ToolHeaderIndex | undefined): HeaderParam[] {
  const tool = call.params?.name;
  if (call.method !== 'tools/call' || index === undefined || typeof tool !== 'string') return [];
  return index.paramsFor(tool) ?? [];
}

/**
 * The 2026-07-28 headers an HTTP POST of this message needs, derived from the body alone
 * (header names lowercase):
 * - `mcp-protocol-version`: the `_meta` version of a request or notification that claims one;
 * - `mcp-method`: the method of a request or notification;
 * - `mcp-name`: `params.name` (tools/call, prompts/get) or `params.uri` (resources/read), encoded;
 * - `mcp-param-{name}`: for tools/call, each parameter `index` knows as annotated whose argument is
 *   present and not null, encoded (no `index`, or a tool it never saw: no such headers).
 * A response gets no headers (clients never POST responses in 2026-07-28).
 *
 * Skipped, because no header can carry them faithfully: a version or method that is not a plain
 * header value (the spec allows the base64 sentinel only for `Mcp-Name` and `Mcp-Param-*`); a name
 * or argument string with a lone surrogate; an argument whose type differs from the declared one;
 * an integer outside the safe range. A server will then answer -32020 or -32602, which is the
 * honest outcome for such a body.
 */
export function modernRequestHeaders(message: JSONRPCMessage, index?: ToolHeaderIndex): Record<string, string> {
  const headers: Record<string, string> = {};
  const call = callOf(message);
  if (call === undefined) return headers;
  const version = versionIn(call.params);
  if (version !== undefined && isPlainHeaderValue(version)) headers['mcp-protocol-version'] = version;
  if (isPlainHeaderValue(call.method)) headers['mcp-method'] = call.method;
  const nameField = nameFieldOf(call.method);
  const name = nameField === undefined ? undefined : call.params?.[nameField];
  if (typeof name === 'string' && isEncodableHeaderValue(name)) headers['mcp-name'] = encodeHeaderValue(name);
  for (const param of annotatedParams(call, index)) {
    const text = argumentText(param, argumentAt(call.params?.arguments, param));
    if (text !== undefined) headers[paramHeaderName(param)] = encodeHeaderValue(text);
  }
  return headers;
}

type InboundHeaders = Record<string, string | string[] | undefined>;

/** Surrounding optional whitespace of a field value (RFC 9110 §5.5: SP and HTAB only). */
const SURROUNDING_OWS = /^[ \t]+|[ \t]+$/g;

/**
 * The values of every `mcp-*` header, by lowercase name, trimmed of SP/HTAB: one pass over
 * `headers`, whatever the case of the names in it.
 */
function mcpHeaderValues(headers: InboundHeaders): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (!lower.startsWith('mcp-')) continue;
    let values = byName.get(lower);
    if (values === undefined) byName.set(lower, (values = []));
    for (const one of Array.isArray(value) ? value : [value]) values.push(one.replace(SURROUNDING_OWS, ''));
  }
  return byName;
}

/** Compare a decoded integer header with the body numerically (the spec's SHOULD: "42.0" equals 42). */
function sameInteger(text: string, value: number): boolean {
  return /^-?\d+(\.\d+)?$/.test(text) && Number(text) === value;
}

/**
 * Server side of "Server Validation" (streamable-http.mdx): do the headers of an inbound POST agree
 * with its body? Returns undefined when they do, else a reason for a -32020 HeaderMismatch error
 * (HTTP 400). Header names are compared ignoring case, values are trimmed, and `Mcp-Name` and
 * `Mcp-Param-*` values are decoded from the sentinel first; a header given more than once, a
 * malformed sentinel or a character a header value cannot carry is a mismatch too.
 *
 * Checked: `MCP-Protocol-Version` equals the `_meta` version; `Mcp-Method` equals the method;
 * `Mcp-Name` equals params.name / params.uri; each `Mcp-Param-*` that `index` knows for the called
 * tool equals its argument (integers numerically). A header that is present is always checked; a
 * missing one is a mismatch only where the spec requires it: on a request that claims a `_meta`
 * version, `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` on the three named methods, and
 * `Mcp-Param-*` for every annotated argument present and not null (the spec defines no header
 * requirements for notification POSTs). A body without a
 * `_meta` version is legacy traffic, so its `MCP-Protocol-Version` (which names the session's
 * version) is not compared; a modern header on such a body is a missing-`_meta` error (-32602),
 * which the caller reports. An argument of another type than declared is left to params validation.
 * Unknown `Mcp-Param-*` headers are ignored, as the spec asks.
 */
export function headerMismatch(message: JSONRPCMessage, headers: InboundHeaders, index?: ToolHeaderIndex): string | undefined {
  const call = callOf(message);
  if (call === undefined) return undefined;
  const claimed = versionIn(call.params);
  const modern = claimed !== undefined;
  const required = modern && call.isRequest;
  const inbound = mcpHeaderValues(headers);

  /** The single value of a header, undefined when absent, or a reason when it cannot be used. */
  const single = (lowerName: string, display: string): { value?: string; fault?: string } => {
    const values = inbound.get(lowerName) ?? [];
    if (values.length > 1) return { fault: `${display} header appears ${values.length} times` };
    return { value: values[0] };
  };

  if (modern) {
    const version = single('mcp-protocol-version', 'MCP-Protocol-Version');
    if (version.fault) return version.fault;
    if (version.value === undefined) {
      if (required) return `MCP-Protocol-Version header is missing; the body's _meta says ${quote(claimed)}`;
    } else if (version.value !== claimed) {
      return `MCP-Protocol-Version header value ${quote(version.value)} does not match body value ${quote(claimed)}`;
    }
  }

  const method = single('mcp-method', 'Mcp-Method');
  if (method.fault) return method.fault;
  if (method.value === undefined) {
    if (required) return `Mcp-Method header is missing; the body's method is ${quote(call.method)}`;
  } else if (method.value !== call.method) {
    return `Mcp-Method header value ${quote(method.value)} does not match body value ${quote(call.method)}`;
  }

  const nameField = nameFieldOf(call.method);
  if (nameField !== undefined) {
    const body = call.params?.[nameField];
    const name = single('mcp-name', 'Mcp-Name');
    if (name.fault) return name.fault;
    if (name.value === undefined) {
      if (required && typeof body === 'string') return `Mcp-Name header is missing; the body's params.${nameField} is ${quote(body)}`;
    } else {
      const decoded = decodeHeaderValue(name.value);
      if (decoded === undefined) return `Mcp-Name header value ${quote(name.value)} is malformed (a bad =?base64?…?= value or a character no header may carry)`;
      if (typeof body !== 'string') return `Mcp-Name header value ${quote(decoded)} does not match the body, which has no string params.${nameField}`;
      if (decoded !== body) return `Mcp-Name header value ${quote(decoded)} does not match body value ${quote(body)}`;
    }
  }

  for (const param of annotatedParams(call, index)) {
    const display = `Mcp-Param-${param.header}`;
    const argument = argumentAt(call.params?.arguments, param);
    const text = argumentText(param, argument);
    // Absent or null: the server MUST NOT expect the header (a present one is ignored). Wrong type:
    // params validation's answer (-32602) is the right one.
    if (text === undefined) continue;
    const header = single(paramHeaderName(param), display);
    if (header.fault) return header.fault;
    if (header.value === undefined) {
      if (required) return `${display} header is missing; the body's argument ${quote(param.property)} is ${quote(text)}`;
      continue;
    }
    const decoded = decodeHeaderValue(header.value);
    if (decoded === undefined) return `${display} header value ${quote(header.value)} is malformed (a bad =?base64?…?= value or a character no header may carry)`;
    const same = param.type === 'integer' ? sameInteger(decoded, argument as number) : decoded === text;
    if (!same) return `${display} header value ${quote(decoded)} does not match body value ${quote(text)}`;
  }
  return undefined;
}

/**
 * A recording `fetch`: every request the doctor makes (its own probes, and those of the reused
 * discovery, registration and login modules, which all take an injected fetch) is captured with
 * method, URL, status, and, for --verbose, headers and bodies, masked as it is recorded
 * (exchange-masking.ts), so no secret is ever held in the report. Each step takes the exchanges
 * made since the previous step took its own.
 */
import { describeError } from '../errors.js';
import type { FetchLike } from '../auth/metadata-fetch.js';
import type { DoctorExchange } from './doctor-report.js';
import { maskBody, maskHeaders, maskUrl } from './exchange-masking.js';

/** Body characters kept per exchange: with --verbose, and without. */
export const VERBOSE_BODY_CHARS = 64 * 1024;
export const BODY_CHARS = 2048;
/** How long `take` waits for a response body still streaming (an SSE stream may never end). */
const BODY_WAIT_MS = 1000;

export interface ExchangeRecorderOptions {
  fetch: FetchLike;
  /** Keep headers and bodies (masked). */
  verbose: boolean;
}

interface Pending {
  exchange: DoctorExchange;
  /** Settles when the response body copy was read (or given up on). */
  body?: Promise<void>;
  stop?: () => void;
}

function requestBodyText(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  return '[binary body]';
}

/** Read a response copy up to `max` characters; `stop` cuts it short (a stream that stays open). */
function readCopy(response: Response, max: number, done: (text: string) => void): { body: Promise<void>; stop: () => void } {
  const reader = response.body?.getReader();
  let text = '';
  let stopped = false;
  const decoder = new TextDecoder();
  const body = (async () => {
    if (!reader) return;
    try {
      while (!stopped && text.length <= max) {
        const { done: end, value } = await reader.read();
        if (end) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // The probe cancelled or the connection closed: keep what arrived.
    } finally {
      done(text);
      reader.cancel().catch(() => undefined);
    }
  })();
  return {
    body,
    stop: () => {
      stopped = true;
      reader?.cancel().catch(() => undefined);
    },
  };
}

/** Wraps a fetch; every request through it is recorded, masked, until a step takes it. */
export class ExchangeRecorder {
  private pending: Pending[] = [];
  private readonly base: FetchLike;
  private readonly verbose: boolean;

  constructor(options: ExchangeRecorderOptions) {
    this.base = options.fetch;
    this.verbose = options.verbose;
  }

  /** The fetch to hand to every module the doctor runs. */
  readonly fetch: FetchLike = async (input, init) => {
    const request = input instanceof Request ? input : undefined;
    const url = request ? request.url : String(input);
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const exchange: DoctorExchange = { method, url: maskUrl(url) };
    const entry: Pending = { exchange };
    this.pending.push(entry);
    const max = this.verbose ? VERBOSE_BODY_CHARS : BODY_CHARS;
    if (this.verbose) {
      const headers = new Headers(init?.headers ?? request?.headers);
      exchange.requestHeaders = maskHeaders(headers);
      const sent = requestBodyText(init?.body);
      if (sent !== undefined) exchange.requestBody = maskBody(sent, headers.get('content-type') ?? (init?.body instanceof URLSearchParams ? 'application/x-www-form-urlencoded' : undefined), max);
    }
    let response: Response;
    try {
      response = await this.base(input, init);
    } catch (error) {
      exchange.error = describeError(error);
      throw error;
    }
    exchange.status = response.status;
    if (this.verbose) {
      exchange.responseHeaders = maskHeaders(response.headers);
      const type = response.headers.get('content-type');
      const copy = readCopy(response.clone(), max, (text) => {
        if (text) exchange.body = maskBody(text, type, max);
      });
      entry.body = copy.body;
      entry.stop = copy.stop;
    }
    return response;
  };

  /** The exchanges since the last call, bodies complete (or cut after a short wait). */
  async take(): Promise<DoctorExchange[]> {
    const taken = this.pending;
    this.pending = [];
    await Promise.all(
      taken.map(async (entry) => {
        if (!entry.body) return;
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, BODY_WAIT_MS)));
        await Promise.race([entry.body, late]);
        clearTimeout(timer);
        entry.stop?.();
        await entry.body;
      }),
    );
    return taken.map((entry) => entry.exchange);
  }
}

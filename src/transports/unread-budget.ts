/**
 * A bound on what `serve` holds for 2026-07-28 callers that do not read their answers. Each
 * answer of a lane goes to its own HTTP response; a caller that never reads leaves the bytes in
 * Node's buffers, and the lane cannot stop reading its upstream for one caller without stalling
 * every other caller that shares it (the 2025 path can: one session, one client). So the bytes
 * waiting in unread responses are counted across the server, and past the budget the response
 * holding the most, among those whose caller has read nothing of them for a grace period, is
 * closed: that caller loses its answer (its call is cancelled upstream if still running). Callers
 * that read keep theirs, however large the answer and however slow the link.
 */
import type { ServerResponse } from 'node:http';

/** Bytes all lanes together may hold in responses their callers have not read. */
export const DEFAULT_UNREAD_BUDGET_BYTES = 64 * 1024 * 1024;
/** How long a response's caller must have read nothing of it before it can be closed for the budget. */
export const UNREAD_GRACE_MS = 2_000;

interface Backlog {
  /** Since when its caller has read nothing of it (the bytes it holds have not gone down). */
  since: number;
  /** What it held at the last look. */
  bytes: number;
}

export class UnreadBudget {
  /** Responses with bytes still buffered, each forgotten once it drains or closes. */
  private readonly backlogged = new Map<ServerResponse, Backlog>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limit: number,
    private readonly onEvict: (bytes: number) => void = () => undefined,
    private readonly graceMs = UNREAD_GRACE_MS,
  ) {}

  /** Bytes held now in responses nobody has read yet. */
  get held(): number {
    let total = 0;
    for (const res of this.backlogged.keys()) total += res.writableLength;
    return total;
  }

  /** Look at a response after something was written to it: count what its caller has not read. */
  note(res: ServerResponse): void {
    if (res.writableLength === 0 || res.destroyed) return;
    const entry = this.backlogged.get(res);
    if (!entry) {
      this.backlogged.set(res, { since: Date.now(), bytes: unsent(res) });
      const forget = (): void => {
        this.backlogged.delete(res);
        res.off('drain', forget);
        res.off('close', forget);
      };
      res.on('drain', forget);
      res.on('close', forget);
    }
    this.enforce();
  }

  /** Past the budget, close the fullest responses that have held bytes for the grace period. */
  private enforce(): void {
    const now = Date.now();
    let total = 0;
    for (const [res, entry] of this.backlogged) {
      const left = unsent(res);
      // Its caller read some since (or everything before, and this is new): a reader, however slow.
      if (left < entry.bytes || entry.bytes === 0) entry.since = now;
      entry.bytes = left;
      total += res.writableLength;
    }
    while (total > this.limit) {
      let largest: ServerResponse | undefined;
      let waitFor = Number.POSITIVE_INFINITY;
      for (const [res, entry] of this.backlogged) {
        const age = now - entry.since;
        if (age < this.graceMs) {
          waitFor = Math.min(waitFor, this.graceMs - age);
          continue;
        }
        if (!largest || res.writableLength > largest.writableLength) largest = res;
      }
      if (!largest || largest.writableLength === 0) {
        // Over the budget, but every holder may still be reading: look again when the first can go.
        if (Number.isFinite(waitFor) && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.enforce();
          }, waitFor + 10);
          this.timer.unref?.();
        }
        return;
      }
      const bytes = largest.writableLength;
      this.backlogged.delete(largest);
      total -= bytes;
      this.onEvict(bytes);
      largest.destroy();
    }
  }
}

/**
 * What of a response has not reached the kernel yet: libuv's write queue, which shrinks as the
 * caller reads. Node's own count (`writableLength`) keeps a chunk whole until all of it is written,
 * so one large answer would look unread until the end; it is the fallback where the handle says
 * nothing (a transport without a libuv stream).
 */
function unsent(res: ServerResponse): number {
  const queued = (res.socket as { _handle?: { writeQueueSize?: unknown } } | null)?._handle?.writeQueueSize;
  return typeof queued === 'number' ? queued : res.writableLength;
}

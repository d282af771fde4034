/**
 * A bound on what `serve` holds for 2026-07-28 callers that do not read their answers. Each
 * answer of a lane goes to its own HTTP response; a caller that never reads leaves the bytes in
 * Node's buffers, and the lane cannot stop reading its upstream for one caller without stalling
 * every other caller that shares it (the 2025 path can: one session, one client). So the bytes
 * waiting in unread responses are counted across the server, and past the budget the response
 * holding the most is closed: the caller that reads least loses its answer (its call is cancelled
 * upstream if still running); callers that read keep theirs, since their buffers empty at once.
 */
import type { ServerResponse } from 'node:http';

/** Bytes all lanes together may hold in responses their callers have not read. */
export const DEFAULT_UNREAD_BUDGET_BYTES = 64 * 1024 * 1024;

export class UnreadBudget {
  /** Responses with bytes still buffered, each forgotten once it drains or closes. */
  private readonly backlogged = new Set<ServerResponse>();

  constructor(
    readonly limit: number,
    private readonly onEvict: (bytes: number) => void = () => undefined,
  ) {}

  /** Bytes held now in responses nobody has read yet. */
  get held(): number {
    let total = 0;
    for (const res of this.backlogged) total += res.writableLength;
    return total;
  }

  /** Look at a response after something was written to it: count what its caller has not read. */
  note(res: ServerResponse): void {
    if (res.writableLength === 0 || res.destroyed) return;
    if (!this.backlogged.has(res)) {
      this.backlogged.add(res);
      const forget = (): void => {
        this.backlogged.delete(res);
        res.off('drain', forget);
        res.off('close', forget);
      };
      res.on('drain', forget);
      res.on('close', forget);
    }
    let total = this.held;
    while (total > this.limit) {
      let largest: ServerResponse | undefined;
      for (const candidate of this.backlogged) if (!largest || candidate.writableLength > largest.writableLength) largest = candidate;
      if (!largest) return;
      const bytes = largest.writableLength;
      this.backlogged.delete(largest);
      total -= bytes;
      this.onEvict(bytes);
      largest.destroy();
    }
  }
}

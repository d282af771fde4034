/**
 * Cancellation for a transport's many HTTP exchanges without one long-lived AbortSignal.
 * Passing one signal to every request leaked: Node 20's fetch removes its 'abort' listener only
 * when the request is garbage-collected (nodejs/node#52635), so listeners and the requests they
 * held piled up under load ("MaxListenersExceededWarning"). Here each exchange gets its own
 * controller, dropped when the exchange ends, so nothing a request hangs on a signal can outlive
 * it; closing the scope aborts the exchanges still running.
 */
export interface Exchange {
  signal: AbortSignal;
  /** The exchange is over (answer read, stream ended): forget its controller. */
  release(): void;
  /** End this one exchange now (a 2026-07-28 client cancels a request by closing its stream). */
  abort(): void;
}

export class AbortScope {
  private readonly live = new Set<AbortController>();
  private readonly sleepers = new Set<() => void>();
  private aborted = false;

  begin(): Exchange {
    const controller = new AbortController();
    if (this.aborted) controller.abort();
    else this.live.add(controller);
    return {
      signal: controller.signal,
      release: () => this.live.delete(controller),
      abort: () => {
        this.live.delete(controller);
        controller.abort();
      },
    };
  }

  /** Wait `ms`, or less if the scope is aborted meanwhile. */
  sleep(ms: number): Promise<void> {
    if (this.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  abortAll(): void {
    this.aborted = true;
    for (const controller of this.live) controller.abort();
    this.live.clear();
    for (const wake of [...this.sleepers]) wake();
  }

  /** For tests and diagnostics: exchanges still running. */
  get size(): number {
    return this.live.size;
  }
}

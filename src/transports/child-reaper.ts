/**
 * Keeps track of every spawned server so that none outlives airlock. Each child runs in its own
 * process group (POSIX), so grandchildren (npx -> node, sh -c -> server) go with it.
 * One instance per airlock process, created by the CLI and passed to each child transport.
 */
import { spawnSync } from 'node:child_process';

export class ChildReaper {
  private readonly pids = new Set<number>();

  add(pid: number): void {
    this.pids.add(pid);
  }

  delete(pid: number): void {
    this.pids.delete(pid);
  }

  /** The children still tracked (their process groups' leaders). */
  get tracked(): number[] {
    return [...this.pids];
  }

  /** Signal a child's whole process group. Returns false when nothing was left to signal. */
  static signalGroup(pid: number, signal: NodeJS.Signals): boolean {
    try {
      if (process.platform === 'win32') {
        // No process groups on Windows: taskkill /T walks the tree.
        spawnSync('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true });
        return true;
      }
      process.kill(-pid, signal);
      return true;
    } catch {
      return false; // ESRCH: the group is already gone.
    }
  }

  /** Last resort, synchronous (safe in process 'exit' handlers): kill every group still tracked. */
  killAllNow(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const pid of this.pids) ChildReaper.signalGroup(pid, signal);
    this.pids.clear();
  }
}

// Plain JS so that both the vitest helpers (TypeScript) and the benchmark (plain node) use it.
import { readFileSync } from 'node:fs';

/**
 * True while a process with this pid runs. A zombie counts as gone: in containers whose pid 1
 * does not reap orphans, a killed grandchild stays a zombie forever.
 * @param {number} pid
 * @returns {boolean}
 */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

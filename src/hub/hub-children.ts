/**
 * The hub's record of the servers its commands spawned (docs/hub.md, "No orphans"): pid and
 * process start time of each child (its process group's leader), written before anything else can
 * happen to it, so that a hub killed with `kill -9` leaves enough behind for the next hub to end
 * what it left. A recorded group is ended only while it is provably the same: its leader alive
 * with the recorded start time, or, with the leader gone, members that started after it. Linux
 * (/proc); elsewhere nothing is recorded and that limit is stated in docs/hub.md.
 */
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../log.js';
import { ChildReaper } from '../transports/child-reaper.js';

export interface ChildRecord {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot; with the pid, names one process. */
  start: number;
}

/**
 * What /proc says about a process: its process group and start time; undefined if it is gone (or
 * no /proc). A zombie counts as gone: it runs nothing, and where nobody reaps orphans (a container
 * whose init does not) a killed hub stays one.
 */
export function processStat(pid: number): { pgrp: number; start: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return { pgrp: Number(rest[2]), start: Number(rest[19]) };
  } catch {
    return undefined;
  }
}

export class ChildrenFile {
  private readonly children = new Map<number, ChildRecord>();
  readonly path: string;
  private readonly hubStart = processStat(process.pid)?.start;

  /** `prefix`: HubPaths.childrenPrefix; this hub's file is the prefix, its pid and `.json`. */
  constructor(
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    this.path = `${prefix}${process.pid}.json`;
  }

  /** A reaper whose children are recorded here while they run (one per hosted command). */
  reaper(): ChildReaper {
    const file = this;
    return new (class extends ChildReaper {
      override add(pid: number): void {
        super.add(pid);
        file.add(pid);
      }
      override delete(pid: number): void {
        super.delete(pid);
        file.delete(pid);
      }
    })();
  }

  private add(pid: number): void {
    const stat = processStat(pid);
    if (!stat) return;
    this.children.set(pid, { pid, start: stat.start });
    this.write();
  }

  private delete(pid: number): void {
    if (this.children.delete(pid)) this.write();
  }

  private write(): void {
    try {
      const temp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify({ hub: process.pid, hubStart: this.hubStart, children: [...this.children.values()] }), { mode: 0o600 });
      renameSync(temp, this.path);
    } catch (error) {
      this.log.warn(`cannot record the hub's children in ${this.path}: ${(error as Error).message}`);
    }
  }

  /** The hub is exiting after ending its children: nothing is left to find. */
  remove(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // none
    }
  }

  /**
   * End what hubs before this one left (they were killed before they could): the records of every
   * hub that is gone (a hub still running, draining beside this one, keeps its own), and in them
   * every process group that is still provably the one recorded. Returns how many groups were ended.
   */
  static endLeftovers(prefix: string, log: Logger): number {
    let files: string[];
    try {
      files = readdirSync(dirname(prefix)).filter((name) => name.startsWith(basename(prefix)) && name.endsWith('.json'));
    } catch {
      return 0;
    }
    let ended = 0;
    for (const name of files) ended += ChildrenFile.endLeftoversOf(join(dirname(prefix), name), log);
    return ended;
  }

  private static endLeftoversOf(path: string, log: Logger): number {
    let records: ChildRecord[];
    let hub: number | undefined;
    try {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as { hub?: number; hubStart?: number; children?: ChildRecord[] };
      records = Array.isArray(parsed.children) ? parsed.children : [];
      hub = parsed.hub;
      // That hub still runs (the same process, this one included): its children are its own business.
      // A file under this pid from an earlier process (pids are reused) has another start time.
      if (hub !== undefined && processStat(hub)?.start === parsed.hubStart) return 0;
    } catch {
      return 0;
    }
    let ended = 0;
    for (const { pid, start } of records) {
      if (!Number.isInteger(pid) || pid <= 1 || !Number.isFinite(start)) continue;
      const leader = processStat(pid);
      const ours = leader ? leader.start === start && leader.pgrp === pid : groupMembers(pid).some((member) => member.start >= start);
      if (!ours) continue;
      if (ChildReaper.signalGroup(pid, 'SIGKILL')) {
        ended++;
        log.info(`ended server process group ${pid}, left running by a hub that was killed${hub ? ` (pid ${hub})` : ''}`);
      }
    }
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    return ended;
  }
}

/** The processes of a process group (/proc scan), with their start times. */
export function groupMembers(pgrp: number): ChildRecord[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: ChildRecord[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = processStat(Number(entry));
    if (stat?.pgrp === pgrp) members.push({ pid: Number(entry), start: stat.start });
  }
  return members;
}

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What `keyway-agent status` shows; written by the running agent beside its database. */
export interface AgentStatusSnapshot {
  deviceId: string;
  pid: number;
  door: string;
  connected: boolean;
  outbox: { depth: number; bytes: number; lastSeq: number; droppedTotal: number };
  lastSyncAt: string | null;
  time: { bounded: boolean; uncertaintyMs: number | null; wallClockBehind: boolean };
  updatedAt: string;
}

export function statusPath(dataDir: string): string {
  return join(dataDir, 'status.json');
}

/** Atomic replace, so a reader never sees half a file. */
export function writeStatus(dataDir: string, snapshot: AgentStatusSnapshot): void {
  const path = statusPath(dataDir);
  writeFileSync(`${path}.tmp`, JSON.stringify(snapshot, null, 2));
  renameSync(`${path}.tmp`, path);
}

export function readStatus(dataDir: string): AgentStatusSnapshot | undefined {
  try {
    return JSON.parse(readFileSync(statusPath(dataDir), 'utf8')) as AgentStatusSnapshot;
  } catch {
    return undefined;
  }
}

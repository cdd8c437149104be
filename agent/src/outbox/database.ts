import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, KeywayError } from '@keyway/shared';

export type AgentDatabase = Database.Database;

/**
 * Opens the agent's single SQLite file (outbox, grants, trusted time, seen commands).
 *
 * Why these settings:
 * - `journal_mode=WAL`: an append is one sequential write to the WAL instead of rewriting pages in place
 *   plus a rollback journal, which halves the writes an SD card sees; readers (CLI `status`) never block
 *   the writer.
 * - `synchronous=NORMAL` as the default: in WAL mode a commit is written to the OS before the call returns,
 *   so it survives SIGKILL; only a power cut can lose the last commits, and we accept that for heartbeats
 *   and ack-deletes (a lost delete only means a duplicate the hub discards).
 * - Access and door events (and grant use counters, seen command ids) are committed with `synchronous=FULL`
 *   (see `durableTransaction`), which fsyncs the WAL on that commit, so they survive power loss too.
 * - `wal_autocheckpoint=4000` pages (~16 MB): fewer, larger checkpoints mean fewer rewrites of the same
 *   b-tree pages (write amplification); `journal_size_limit` caps the WAL file after checkpoints.
 * - `cache_size=-2048` (2 MiB instead of better-sqlite3's 16 MiB): the outbox is written at its end and read
 *   front to back, so a large page cache buys nothing and costs RAM a 512 MB board needs elsewhere.
 */
export function openAgentDatabase(path: string): AgentDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: AgentDatabase;
  try {
    db = new Database(path);
  } catch (cause) {
    throw new KeywayError(ErrorCode.Unavailable, `cannot open the agent database at ${path}; check the directory exists and is writable`, { cause });
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 4000');
  db.pragma('journal_size_limit = 16777216');
  db.pragma('cache_size = -2048');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  return db;
}

/**
 * Runs `fn` in one transaction committed with `synchronous=FULL`, so it is on stable storage when this returns.
 * The pragma is per connection and cannot change inside a transaction, hence the switch around it.
 */
export function durableTransaction<T>(db: AgentDatabase, fn: () => T): T {
  db.pragma('synchronous = FULL');
  try {
    return db.transaction(fn).immediate();
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}

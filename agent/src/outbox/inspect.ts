import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';

export interface OutboxInspection {
  depth: number;
  bytes: number;
  firstSeq: number | null;
  lastSeq: number;
  droppedTotal: number;
  byType: Array<{ type: string; count: number }>;
  oldest: Array<{ seq: number; type: string; priority: number; createdAt: string; bytes: number }>;
}

/** Reads the outbox read-only, so it can be inspected while the agent runs (WAL lets readers in). */
export function inspectOutbox(dbPath: string, limit = 20): OutboxInspection | undefined {
  if (!existsSync(dbPath)) return undefined;
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").get() !== undefined;
    if (!hasTable) return undefined;
    const totals = db.prepare('SELECT count(*) AS n, sum(bytes) AS b, min(seq) AS first, max(seq) AS last FROM outbox').get() as { n: number; b: number | null; first: number | null; last: number | null };
    const meta = (key: string): number => (db.prepare('SELECT value FROM outbox_meta WHERE key = ?').get(key) as { value: number } | undefined)?.value ?? 0;
    const byType = (db.prepare('SELECT type, count(*) AS count FROM outbox GROUP BY type ORDER BY count DESC').all() as Array<{ type: string; count: number }>);
    const oldest = (db.prepare('SELECT seq, type, priority, created_at, bytes FROM outbox ORDER BY seq LIMIT ?').all(limit) as Array<{ seq: number; type: string; priority: number; created_at: number; bytes: number }>).map((r) => ({
      seq: r.seq,
      type: r.type,
      priority: r.priority,
      createdAt: new Date(r.created_at).toISOString(),
      bytes: r.bytes,
    }));
    return { depth: totals.n, bytes: totals.b ?? 0, firstSeq: totals.first, lastSeq: Math.max(meta('last_seq'), totals.last ?? 0), droppedTotal: meta('dropped_total'), byType, oldest };
  } finally {
    db.close();
  }
}

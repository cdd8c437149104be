/**
 * An append-only, tamper-evident audit trail: each entry carries the SHA-256 of its content chained to the previous
 * entry's hash, so editing, removing or reordering any entry breaks the chain from that point on.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { ErrorCode, isKeywayError } from '../errors.js';

export type AuditAction = 'register' | 'deprecate' | 'retire';

export interface AuditRecord {
  seq: number;
  at: string;
  actor: string;
  action: AuditAction;
  type: string;
  version: number;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditStore {
  append(record: AuditRecord): Promise<void>;
  list(): Promise<AuditRecord[]>;
}

export type AuditVerification = { ok: true; entries: number } | { ok: false; brokenAt: number; reason: string };

const GENESIS = '0'.repeat(64);

/** Canonical JSON: object keys sorted, so the hash does not depend on key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256').update(canonical(record)).digest('hex');
}

export class AuditTrail {
  private last: { seq: number; hash: string } | undefined;

  constructor(private readonly store: AuditStore) {}

  /**
   * Appends one entry after the chain's tail. The tail is cached per process; when another writer (a second hub
   * replica on a shared store) appended first, the store refuses the stale position with CONFLICT, and the append
   * reloads the tail and retries once. A second CONFLICT means writers keep racing; the caller may retry.
   */
  async append(entry: { actor: string; action: AuditAction; type: string; version: number; detail?: Record<string, unknown>; at?: Date }): Promise<AuditRecord> {
    const at = entry.at ?? new Date();
    try {
      return await this.appendAfterTail(entry, at);
    } catch (error) {
      if (!isKeywayError(error, ErrorCode.Conflict)) throw error;
      this.last = undefined;
      return this.appendAfterTail(entry, at);
    }
  }

  private async appendAfterTail(entry: { actor: string; action: AuditAction; type: string; version: number; detail?: Record<string, unknown> }, at: Date): Promise<AuditRecord> {
    if (!this.last) {
      const all = await this.store.list();
      const tail = all[all.length - 1];
      this.last = tail ? { seq: tail.seq, hash: tail.hash } : { seq: 0, hash: GENESIS };
    }
    const body: Omit<AuditRecord, 'hash'> = {
      seq: this.last.seq + 1,
      at: at.toISOString(),
      actor: entry.actor,
      action: entry.action,
      type: entry.type,
      version: entry.version,
      detail: entry.detail ?? {},
      prevHash: this.last.hash,
    };
    const record: AuditRecord = { ...body, hash: hashRecord(body) };
    await this.store.append(record);
    this.last = { seq: record.seq, hash: record.hash };
    return record;
  }

  list(): Promise<AuditRecord[]> {
    return this.store.list();
  }

  /** Walks the chain and reports the first entry whose hash, link or sequence does not hold. */
  async verify(): Promise<AuditVerification> {
    const records = await this.store.list();
    let prev = GENESIS;
    for (const [i, r] of records.entries()) {
      const { hash, ...body } = r;
      if (r.seq !== i + 1) return { ok: false, brokenAt: i + 1, reason: `entry ${i + 1} has sequence ${r.seq}: an entry was removed or reordered` };
      if (r.prevHash !== prev) return { ok: false, brokenAt: r.seq, reason: `entry ${r.seq} does not link to the entry before it` };
      if (hashRecord(body) !== hash) return { ok: false, brokenAt: r.seq, reason: `entry ${r.seq} was edited after it was written` };
      prev = hash;
    }
    return { ok: true, entries: records.length };
  }
}

/** Audit records as JSON lines in a file, each append fsynced before it resolves. */
export class FileAuditStore implements AuditStore {
  constructor(private readonly file: string) {}

  append(record: AuditRecord): Promise<void> {
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, `${JSON.stringify(record)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return Promise.resolve();
  }

  list(): Promise<AuditRecord[]> {
    if (!fs.existsSync(this.file)) return Promise.resolve([]);
    const lines = fs.readFileSync(this.file, 'utf8').split('\n').filter((l) => l.trim() !== '');
    return Promise.resolve(lines.map((l) => JSON.parse(l) as AuditRecord));
  }
}

/** Keeps the trail in memory only: for registries that are rebuilt from the repository at every start. */
export class MemoryAuditStore implements AuditStore {
  private readonly records: AuditRecord[] = [];
  append(record: AuditRecord): Promise<void> {
    this.records.push(record);
    return Promise.resolve();
  }
  list(): Promise<AuditRecord[]> {
    return Promise.resolve(this.records.map((r) => ({ ...r })));
  }
}

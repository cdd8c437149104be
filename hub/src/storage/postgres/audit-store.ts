import type { AuditRecord, AuditStore } from '@keyway/shared/registry';
import { PostgresConnection, type PostgresConnectionOptions } from './connection.js';

/**
 * The schema registry's tamper-evident audit chain in PostgreSQL, shared by every hub replica.
 * The table refuses a second entry at one position or after one hash, so concurrent appends from
 * two replicas cannot fork the chain: the later one fails with CONFLICT. The stored record is the
 * exact JSON that was hashed, so verification reads back what was written.
 */
export class PostgresAuditStore implements AuditStore {
  private readonly db: PostgresConnection;

  constructor(options: PostgresConnectionOptions) {
    this.db = new PostgresConnection(options);
  }

  init(): Promise<void> {
    return this.db.open();
  }

  close(): Promise<void> {
    return this.db.close();
  }

  async append(record: AuditRecord): Promise<void> {
    await this.db.query(
      'append to the registry audit chain',
      'INSERT INTO registry_audit (seq, prev_hash, hash, record) VALUES ($1, $2, $3, $4)',
      [record.seq, record.prevHash, record.hash, JSON.stringify(record)],
    );
  }

  async list(): Promise<AuditRecord[]> {
    const r = await this.db.query<{ record: string }>(
      'read the registry audit chain',
      'SELECT record FROM registry_audit ORDER BY seq',
    );
    return r.rows.map((row) => JSON.parse(row.record) as AuditRecord);
  }
}

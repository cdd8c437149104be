import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { createLogger, type Logger } from '@keyway/shared';
import type { TimeInterval } from '@keyway/shared/grants';
import { durableTransaction, type AgentDatabase } from '../outbox/database.js';
import { systemClockSources, type ClockSources } from './clock-sources.js';

export interface TrustedClockOptions {
  sources?: ClockSources;
  /** Worst-case drift of the crystal behind the monotonic clock, parts per million (default 200). */
  driftPpm?: number;
  /** Allowance for the delay between the hub signing a time and the agent reading it (default 2000 ms). */
  syncErrorMs?: number;
  /**
   * Hub times arrive with every ack; persisting each would be a write per ack. An anchor at most this old
   * (default 60 s) is persisted instead: after a restart it only means a slightly wider interval.
   */
  persistEveryMs?: number;
}

export interface TimeStatus {
  /** True when both bounds are known (a hub time was received during this boot). */
  bounded: boolean;
  lowMs: number;
  /** null when unbounded: the device rebooted without network and cannot know how long it was off. */
  highMs: number | null;
  /** Half the width of the interval, or null when unbounded. */
  uncertaintyMs: number | null;
  /** The wall clock reads earlier than the last trusted time; it is not used. */
  wallClockBehind: boolean;
  lastHubTimeMs: number | null;
}

interface Anchor {
  hubMs: number;
  monoMs: number;
  bootId: string;
  floorMs: number;
}

/**
 * Time the agent can defend: the last hub-signed time, advanced by the monotonic clock since (with a drift
 * allowance). The lower bound is persisted and only moves forward, so neither a reboot nor a wall clock set
 * back can make an expired grant valid again. After a reboot without network the upper bound is unknown.
 */
export class TrustedClock {
  /**
   * Made at start and sent with every batch; the hub signs it into the time it returns. The first hub time of a boot
   * must carry it: a time token recorded before (by someone on the path) and replayed after a reboot cannot prove how
   * long the device was off, and would move an expired grant back into its window.
   */
  readonly timeNonce = randomBytes(16).toString('base64url');
  private readonly sources: ClockSources;
  private readonly driftPpm: number;
  private readonly syncErrorMs: number;
  private readonly log: Logger;
  private anchor: Anchor | undefined;
  private floorMs = 0;
  private lastPersistMono = Number.NEGATIVE_INFINITY;
  private readonly persistEveryMs: number;
  private upsert: Statement<[number, number, string, number]> | undefined;
  /**
   * A hub time carrying a nonce has been seen (persisted): the hub signs nonces, so from then on the first time of a
   * boot must carry this start's. Before, the hub is older than nonces and its times are taken as they are.
   */
  private hubSignsNonces = false;

  constructor(
    private readonly db: AgentDatabase,
    options: TrustedClockOptions = {},
  ) {
    this.sources = options.sources ?? systemClockSources;
    this.driftPpm = options.driftPpm ?? 200;
    this.syncErrorMs = options.syncErrorMs ?? 2_000;
    this.persistEveryMs = options.persistEveryMs ?? 60_000;
    this.log = createLogger('agent.clock');
  }

  async start(): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS trusted_time (id INTEGER PRIMARY KEY CHECK (id = 1), hub_ms INTEGER NOT NULL, mono_ms INTEGER NOT NULL, boot_id TEXT NOT NULL, floor_ms INTEGER NOT NULL)');
    const row = this.db.prepare('SELECT hub_ms, mono_ms, boot_id, floor_ms FROM trusted_time WHERE id = 1').get() as
      | { hub_ms: number; mono_ms: number; boot_id: string; floor_ms: number }
      | undefined;
    if (row) {
      this.anchor = { hubMs: row.hub_ms, monoMs: row.mono_ms, bootId: row.boot_id, floorMs: row.floor_ms };
      this.floorMs = row.floor_ms;
    }
    this.db.exec('CREATE TABLE IF NOT EXISTS trusted_time_flags (name TEXT PRIMARY KEY)');
    this.hubSignsNonces = this.db.prepare("SELECT 1 FROM trusted_time_flags WHERE name = 'hub-signs-nonces'").get() !== undefined;
    await Promise.resolve();
  }

  async stop(): Promise<void> {
    if (this.anchor) this.checkpoint();
    await Promise.resolve();
  }

  /**
   * Takes a verified hub time. An older time than the current lower bound (a replayed token) is ignored and
   * returns false: trusted time never moves backwards.
   */
  acceptHubTime(hubMs: number, nonce?: string): boolean {
    const current = this.interval();
    if (hubMs < current.lowMs - this.syncErrorMs) {
      this.log.warn({ hubMs, lowMs: current.lowMs }, 'ignoring a signed hub time older than the trusted lower bound');
      return false;
    }
    if (nonce !== undefined && !this.hubSignsNonces) {
      this.hubSignsNonces = true;
      durableTransaction(this.db, () => this.db.prepare("INSERT OR IGNORE INTO trusted_time_flags (name) VALUES ('hub-signs-nonces')").run());
    }
    const firstThisBoot = this.anchor?.bootId !== this.sources.bootId();
    if (firstThisBoot && nonce !== this.timeNonce) {
      // Within a boot, a replayed older time falls below the lower bound; the first one of a boot has nothing to fall
      // below, so it must answer this start's nonce: once the hub is known to sign nonces, one without it is refused.
      if (this.hubSignsNonces) {
        this.log.warn({ hubMs }, "ignoring a signed hub time without this start's nonce: the first time after a reboot must be fresh");
        return false;
      }
      this.log.warn({ hubMs }, 'the hub does not sign time nonces: a replayed time cannot be told from a fresh one after a reboot; upgrade the hub');
    }
    this.anchor = { hubMs, monoMs: this.sources.monoMs(), bootId: this.sources.bootId(), floorMs: Math.max(this.floorMs, hubMs) };
    this.floorMs = this.anchor.floorMs;
    if (firstThisBoot || this.sources.monoMs() - this.lastPersistMono >= this.persistEveryMs) this.persist(this.anchor);
    return true;
  }

  /** Raises the lower bound only (e.g. from a signed command's `iat`, whose delivery delay is unknown). */
  raiseFloor(ms: number): void {
    if (ms <= this.floorMs) return;
    this.floorMs = ms;
    if (this.anchor) this.anchor.floorMs = ms;
    this.checkpoint();
  }

  /** Where the true time lies now. */
  interval(): TimeInterval {
    const a = this.anchor;
    if (a && a.bootId === this.sources.bootId()) {
      const elapsed = Math.max(0, this.sources.monoMs() - a.monoMs);
      const uncertainty = this.syncErrorMs + (elapsed * this.driftPpm) / 1e6;
      const mid = a.hubMs + elapsed;
      return { lowMs: Math.max(this.floorMs, mid - uncertainty), highMs: Math.max(this.floorMs, mid + uncertainty) };
    }
    return { lowMs: this.floorMs, highMs: Number.POSITIVE_INFINITY };
  }

  /** The best single estimate, for timestamps on events: never earlier than the trusted lower bound. */
  now(): Date {
    const a = this.anchor;
    if (a && a.bootId === this.sources.bootId()) {
      // The hub's time advanced by the monotonic clock, never below the floor. Not the interval's midpoint: when the
      // floor clamps the lower bound the midpoint runs ahead of the best estimate (seen as device events ~1 s early).
      const estimate = a.hubMs + Math.max(0, this.sources.monoMs() - a.monoMs);
      return new Date(Math.round(Math.max(this.floorMs, estimate)));
    }
    return new Date(Math.max(this.floorMs, this.sources.wallMs()));
  }

  status(): TimeStatus {
    const { lowMs, highMs } = this.interval();
    const bounded = Number.isFinite(highMs);
    return {
      bounded,
      lowMs,
      highMs: bounded ? highMs : null,
      uncertaintyMs: bounded ? (highMs - lowMs) / 2 : null,
      wallClockBehind: this.sources.wallMs() < lowMs - this.syncErrorMs,
      lastHubTimeMs: this.anchor?.hubMs ?? null,
    };
  }

  /** Persists the current lower bound, so after a reboot the floor is as late as it can honestly be. */
  checkpoint(): void {
    const low = this.interval().lowMs;
    if (low > this.floorMs) this.floorMs = low;
    // Without a hub time there is no anchor: a boot id that matches no boot keeps the interval unbounded.
    const a = this.anchor ?? { hubMs: this.floorMs, monoMs: 0, bootId: 'floor-only', floorMs: this.floorMs };
    a.floorMs = this.floorMs;
    this.anchor = a;
    this.persist(a);
  }

  private persist(a: Anchor): void {
    this.upsert ??= this.db.prepare<[number, number, string, number]>(
      'INSERT INTO trusted_time (id, hub_ms, mono_ms, boot_id, floor_ms) VALUES (1, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET hub_ms = excluded.hub_ms, mono_ms = excluded.mono_ms, boot_id = excluded.boot_id, floor_ms = excluded.floor_ms',
    );
    const upsert = this.upsert;
    // fsynced: the floor is what keeps a clock set back from reviving expired grants after a power cut.
    durableTransaction(this.db, () => upsert.run(a.hubMs, a.monoMs, a.bootId, a.floorMs));
    this.lastPersistMono = this.sources.monoMs();
  }
}

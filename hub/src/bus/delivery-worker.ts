import { performance } from 'node:perf_hooks';
import { describeError, type EventEnvelope, type Logger } from '@keyway/shared';
import type { BusStore, ClaimedDelivery } from '../storage/types.js';
import { fullJitterDelay } from './backoff.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { DeferDelivery } from './defer.js';
import type { BusMetrics } from './metrics.js';
import { withTimeout, type TargetInvoker } from './targets.js';
import { applyTransformer } from './transform.js';
import type { InputTransformer } from './types.js';

/** Time beyond an attempt's limit for its outcome to be written before its lease may expire. */
const LEASE_MARGIN_MS = 2_000;

/** The lease a claim takes: the bus's, but never shorter than an attempt may run plus the margin. */
export function leaseFor(busLeaseMs: number, timeoutMs: number): number {
  return Math.max(busLeaseMs, timeoutMs + LEASE_MARGIN_MS);
}

export interface WorkerSettings {
  name: string;
  concurrency: number;
  orderedBySubject: boolean;
  timeoutMs: number;
  maxAttempts: number;
  maxAgeMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  failureThreshold: number;
  openMs: number;
  transform: InputTransformer | undefined;
}

export interface WorkerDeps {
  store: BusStore;
  metrics: BusMetrics;
  log: Logger;
  clock: () => number;
  random: () => number;
  pollIntervalMs: number;
  leaseMs: number;
}

/** Recent outcomes, read and reset by the alarm monitor at each evaluation. */
export interface WorkerWindow {
  delivered: number;
  failed: number;
  latenciesMs: number[];
}

const MAX_WINDOW_SAMPLES = 2048;

/**
 * How long one pass may keep claiming within one event-loop turn. A pass ends as soon as a claim
 * comes back short (the queue is drained), so this only matters when the worker is behind: then
 * a turn also carries a large group commit, and a small budget (5 ms was tried) left delivery a
 * fixed share of each turn, so a queue that fell behind under a burst never caught up. 20 ms
 * lets delivery outpace ingest until the queue drains, while timers and the other subscribers'
 * workers still run every turn.
 */
const MAX_PASS_MS = 20;

/** True when every attempt settled before this turn of the event loop ended. */
function settledThisTurn(attempts: readonly Promise<void>[]): Promise<boolean> {
  return new Promise((resolve) => {
    const turnEnd = setImmediate(() => resolve(false));
    void Promise.all(attempts).then(() => {
      clearImmediate(turnEnd);
      resolve(true);
    });
  });
}

/**
 * One subscriber's delivery loop: claims due rows of its own queue (never more than its
 * concurrency), calls its target with a deadline, then acks, retries with backoff or
 * dead-letters. Nothing here is shared with other subscribers, so a slow or failing target
 * only fills its own queue (bulkhead).
 */
export class DeliveryWorker {
  readonly breaker: CircuitBreaker;
  private window: WorkerWindow = { delivered: 0, failed: 0, latenciesMs: [] };
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();
  private pendingAcks: number[] = [];
  private ackScheduled = false;
  private pumping = false;
  private retired: TargetInvoker[] = [];
  private wakeScheduled = false;
  private again = false;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private settings: WorkerSettings,
    private invoker: TargetInvoker,
    private readonly deps: WorkerDeps,
  ) {
    this.breaker = new CircuitBreaker({
      failureThreshold: settings.failureThreshold,
      openMs: settings.openMs,
      onChange: (from, to) => deps.log.warn({ subscriber: settings.name, from, to }, `circuit ${to}`),
    });
  }

  get name(): string {
    return this.settings.name;
  }

  /** Swaps the target (a re-declared in-process handler) without losing in-flight work. */
  replace(settings: WorkerSettings, invoker: TargetInvoker): void {
    this.settings = settings;
    // attempts in flight may still use the old target; it is closed at stop()
    if (invoker !== this.invoker) this.retired.push(this.invoker);
    this.invoker = invoker;
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Stops claiming, waits for attempts in flight (each bounded by its timeout) and flushes acks. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    await this.flushAcks();
    for (const t of [...this.retired, this.invoker]) t.close?.();
    this.retired = [];
  }

  /**
   * Asks the worker to look for work (new events appended, a slot freed). Wakes are coalesced
   * into one pass per turn of the event loop: one claim then covers every freed slot, and a busy
   * worker never starves timers and I/O with back-to-back claims.
   */
  wake(): void {
    if (this.stopped || this.wakeScheduled) return;
    this.wakeScheduled = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    setImmediate(() => {
      this.wakeScheduled = false;
      void this.pump();
    });
  }

  takeWindow(): WorkerWindow {
    const w = this.window;
    this.window = { delivered: 0, failed: 0, latenciesMs: [] };
    return w;
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.again = false;
    let idleFor: number | undefined = this.deps.pollIntervalMs;
    try {
      if (this.stopped) return;
      // acked rows must be gone before claiming, or a subject's next event would look blocked
      await this.flushAcks();
      const now = this.deps.clock();
      const gate = this.breaker.gate(now);
      if (gate === 'blocked') {
        idleFor = Math.max(1, this.breaker.retryAt - now);
      } else {
        const passStart = performance.now();
        for (let round = 1; ; round++) {
          const free =
            gate === 'probe' ? (this.inFlight === 0 ? 1 : 0) : this.settings.concurrency - this.inFlight;
          if (free <= 0) {
            idleFor = undefined; // a finishing attempt wakes us
            break;
          }
          const rows = await this.deps.store.claim(this.settings.name, {
            limit: free,
            now: round === 1 ? now : this.deps.clock(),
            // Never shorter than an attempt may run: an expired lease lets another pass claim the row again while its
            // first attempt is still running, and the event is delivered twice at once.
            leaseMs: leaseFor(this.deps.leaseMs, this.settings.timeoutMs),
            orderedBySubject: this.settings.orderedBySubject,
          });
          const launched = rows.map((row) => this.launch(row));
          if (rows.length > 0) idleFor = undefined; // completions wake us
          if (rows.length < free || gate !== 'pass' || this.stopped) break;
          if (performance.now() - passStart >= MAX_PASS_MS) {
            this.again = true;
            break;
          }
          // A full claim means more rows wait. Fast targets (in-process handlers) finish within
          // this turn's microtasks: claim again now instead of one claim per event-loop turn,
          // which capped delivery at concurrency x turns per second. A slower batch ends the pass
          // at the turn's end and its completions wake the worker as usual.
          if (!(await settledThisTurn(launched))) break;
          await this.flushAcks();
          // those attempts may have stopped the worker or opened the circuit: the next pass
          // (their completions already asked for one) takes it from there
          if (this.stopped || this.breaker.state !== 'closed') break;
        }
      }
    } catch (error) {
      this.deps.log.error({ subscriber: this.settings.name, err: describeError(error) }, 'claiming deliveries failed');
    } finally {
      this.pumping = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.wake();
    } else if (idleFor !== undefined && this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.pump();
      }, idleFor);
    }
  }

  private launch(row: ClaimedDelivery): Promise<void> {
    this.inFlight += 1;
    const p = this.deliver(row)
      .catch((error: unknown) => {
        // the row stays claimed until its lease ends, then it is retried
        this.deps.log.error(
          { subscriber: this.settings.name, err: describeError(error) },
          'recording a delivery failed',
        );
      })
      .finally(() => {
        this.inFlight -= 1;
        this.running.delete(p);
        this.wake();
      });
    this.running.add(p);
    return p;
  }

  private async deliver(row: ClaimedDelivery): Promise<void> {
    const s = this.settings;
    const { store, metrics, clock } = this.deps;
    const labels = { subscriber: s.name };
    if (clock() - row.enqueuedAt > s.maxAgeMs) {
      await store.deadLetter(row.deliveryId, `maximum event age of ${s.maxAgeMs} ms exceeded`, clock());
      metrics.deadLettered.inc(labels);
      return;
    }
    try {
      const event = JSON.parse(row.payload) as EventEnvelope;
      const input = s.transform ? applyTransformer(s.transform, event) : event;
      const invoker = this.invoker;
      await withTimeout(s.timeoutMs, (signal) =>
        invoker(event, {
          subscriber: s.name,
          attempt: row.attempt,
          dedupKey: row.dedupKey,
          input,
          get signal() {
            return signal();
          },
        }),
      );
    } catch (error) {
      if (error instanceof DeferDelivery) await this.deferred(row, error);
      else await this.failed(row, error);
      return;
    }
    const now = clock();
    this.breaker.onSuccess();
    metrics.delivered.inc(labels);
    const latencyMs = Math.max(0, now - row.ingestedAt);
    metrics.latency.observe(labels, latencyMs / 1000);
    this.window.delivered += 1;
    if (this.window.latenciesMs.length < MAX_WINDOW_SAMPLES) this.window.latenciesMs.push(latencyMs);
    this.ack(row.deliveryId);
  }

  /** Not attempted (the handler said so): due again at its time, and the claim's attempt is given back. */
  private async deferred(row: ClaimedDelivery, deferral: DeferDelivery): Promise<void> {
    const { store, clock } = this.deps;
    // Scheduled first, so the row is not due when the release below makes it claimable.
    await store.retryLater(row.deliveryId, Math.max(deferral.untilMs, clock() + 1), deferral.message.slice(0, 1000));
    await store.release([row.deliveryId], clock());
  }

  private async failed(row: ClaimedDelivery, error: unknown): Promise<void> {
    const s = this.settings;
    const { store, metrics, clock, log } = this.deps;
    const labels = { subscriber: s.name };
    const now = clock();
    const message = describeError(error).slice(0, 1000);
    this.breaker.onFailure(now);
    metrics.failed.inc(labels);
    this.window.failed += 1;
    if (row.attempt >= s.maxAttempts || now - row.enqueuedAt >= s.maxAgeMs) {
      await store.deadLetter(row.deliveryId, message, now);
      metrics.deadLettered.inc(labels);
      log.warn({ subscriber: s.name, seq: row.seq, attempt: row.attempt, err: message }, 'delivery dead-lettered');
      return;
    }
    const delay = fullJitterDelay(row.attempt, s.baseDelayMs, s.maxDelayMs, this.deps.random);
    await store.retryLater(row.deliveryId, now + delay, message);
    metrics.retried.inc(labels);
    log.debug(
      { subscriber: s.name, seq: row.seq, attempt: row.attempt, delay, err: message },
      'delivery will be retried',
    );
  }

  // Acks are batched so one commit (one fsync) covers many deliveries.
  private ack(id: number): void {
    this.pendingAcks.push(id);
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setImmediate(() => {
      void this.flushAcks().then(() => this.wake());
    });
  }

  private async flushAcks(): Promise<void> {
    this.ackScheduled = false;
    const ids = this.pendingAcks;
    if (ids.length === 0) return;
    this.pendingAcks = [];
    try {
      await this.deps.store.ack(ids);
    } catch (error) {
      // unacked rows come back after their lease: at-least-once, never lost
      this.deps.log.error(
        { subscriber: this.settings.name, err: describeError(error) },
        'acknowledging deliveries failed',
      );
    }
  }
}

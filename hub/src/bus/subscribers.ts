import { ErrorCode, KeywayError, type EventEnvelope, type Logger } from '@keyway/shared';
import { RuleMatcher, compilePattern } from '@keyway/shared/patterns';
import type { BusStore } from '../storage/types.js';
import { DeliveryWorker, type WorkerDeps, type WorkerSettings } from './delivery-worker.js';
import type { Detection } from './ingest.js';
import type { SecretBox } from './secret-box.js';
import { createTargetInvoker, storableTarget, storedTarget, type MqttPublish } from './targets.js';
import { checkTransformer } from './transform.js';
import type { EventValidator, SubscriberDeclaration, TargetSpec } from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface SubscriberSetDeps extends WorkerDeps {
  validator: EventValidator;
  mqttPublish: MqttPublish | undefined;
  detect: (d: Detection) => void;
  /** Seals webhook secrets in stored declarations, so those subscribers resume after a restart. */
  secretBox: SecretBox | undefined;
}

interface Active {
  declaration: SubscriberDeclaration;
  worker: DeliveryWorker;
  rules: string[];
}

function settingsOf(d: SubscriberDeclaration): WorkerSettings {
  return {
    name: d.name,
    concurrency: Math.max(1, d.concurrency ?? 8),
    orderedBySubject: d.orderedBySubject ?? false,
    timeoutMs: d.timeoutMs ?? 10_000,
    maxAttempts: Math.max(1, d.retry?.maxAttempts ?? 8),
    maxAgeMs: d.retry?.maxAgeMs ?? 24 * 3600_000,
    baseDelayMs: d.retry?.baseDelayMs ?? 100,
    maxDelayMs: d.retry?.maxDelayMs ?? 60_000,
    failureThreshold: Math.max(1, d.circuit?.failureThreshold ?? 5),
    openMs: d.circuit?.openMs ?? 5_000,
    transform: d.transform,
  };
}

/** The stored form: everything that defines the subscriber except functions, and secrets only sealed. */
function storedConfig(d: SubscriberDeclaration, box: SecretBox | undefined): string {
  const s = settingsOf(d);
  return JSON.stringify({
    types: [...d.types].sort(),
    patterns: d.patterns ?? [],
    target: storableTarget(d.target, box),
    transform: d.transform ?? null,
    concurrency: s.concurrency,
    orderedBySubject: s.orderedBySubject,
    timeoutMs: s.timeoutMs,
    retry: { maxAttempts: s.maxAttempts, maxAgeMs: s.maxAgeMs, baseDelayMs: s.baseDelayMs, maxDelayMs: s.maxDelayMs },
    circuit: { failureThreshold: s.failureThreshold, openMs: s.openMs },
    alarms: d.alarms ?? null,
  });
}

type StoredConfig = {
  types: string[];
  patterns: Record<string, unknown>[];
  target: unknown;
  transform: SubscriberDeclaration['transform'] | null;
  concurrency: number;
  orderedBySubject: boolean;
  timeoutMs: number;
  retry: Required<NonNullable<SubscriberDeclaration['retry']>>;
  circuit: Required<NonNullable<SubscriberDeclaration['circuit']>>;
  alarms: SubscriberDeclaration['alarms'] | null;
};

/** The declaration a stored config came from (the inverse of storedConfig, given the rebuilt target). */
function declarationOf(name: string, account: string, c: StoredConfig, target: TargetSpec): SubscriberDeclaration {
  return {
    name,
    account,
    types: c.types,
    patterns: c.patterns,
    target,
    ...(c.transform ? { transform: c.transform } : {}),
    concurrency: c.concurrency,
    orderedBySubject: c.orderedBySubject,
    timeoutMs: c.timeoutMs,
    retry: c.retry,
    circuit: c.circuit,
    ...(c.alarms ? { alarms: c.alarms } : {}),
  };
}

/** Declared subscribers: their routing rules, permissions and delivery workers. */
export class SubscriberSet {
  private readonly active = new Map<string, Active>();
  private readonly matcher = new RuleMatcher<string>();
  /** Per subscriber, the stored config this process routes by: a sync applies only what changed since. */
  private readonly applied = new Map<string, string>();
  /** Per subscriber, the stored config last found not applicable here (logged once). */
  private readonly unapplied = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();
  private running = false;

  constructor(private readonly deps: SubscriberSetDeps & { log: Logger; store: BusStore }) {}

  /**
   * Checks, records and starts a subscriber; declaring the same thing again changes nothing. CONFLICT when the name
   * belongs to another account.
   */
  declare(d: SubscriberDeclaration): Promise<'created' | 'updated' | 'unchanged'> {
    return this.exclusive(async () => {
      const rules = this.check(d);
      const config = storedConfig(d, this.deps.secretBox);
      const status = await this.deps.store.upsertSubscriber({ name: d.name, account: d.account, config, updatedAt: this.deps.clock() });
      if (status === 'taken') {
        throw new KeywayError(ErrorCode.Conflict, `subscriber ${d.name} belongs to another account; choose another name`, { details: { subscriber: d.name } });
      }
      this.activate(d.name, rules, d);
      this.applied.set(d.name, config);
      this.deps.log.info({ subscriber: d.name, account: d.account, types: d.types, status }, 'subscriber declared');
      return status;
    });
  }

  /** Routes to subscriber `name` by its rules and, given its declaration, runs (or re-configures) its delivery worker here. */
  private activate(name: string, rules: readonly Record<string, unknown>[], d?: SubscriberDeclaration): void {
    // drop every rule of this name (active, stored or left by an earlier declaration) before adding
    for (let i = 0; this.matcher.remove(`${name}#${i}`); i++);
    rules.forEach((pattern, i) => this.matcher.add(`${name}#${i}`, pattern));
    const ruleIds = rules.map((_, i) => `${name}#${i}`);
    const existing = this.active.get(name);
    if (existing) existing.rules = ruleIds;
    if (d === undefined) return;
    const invoker = createTargetInvoker(d.target, {
      clock: this.deps.clock,
      mqttPublish: this.deps.mqttPublish,
      concurrency: settingsOf(d).concurrency,
    });
    if (existing) {
      existing.worker.replace(settingsOf(d), invoker);
      existing.declaration = d;
    } else {
      const worker = new DeliveryWorker(settingsOf(d), invoker, this.deps);
      this.active.set(d.name, { declaration: d, worker, rules: ruleIds });
      if (this.running) worker.start();
    }
    // its series exist from the declaration on, so dashboards and alerts see zeros, not gaps
    const labels = { subscriber: d.name };
    for (const c of [
      this.deps.metrics.delivered,
      this.deps.metrics.failed,
      this.deps.metrics.retried,
      this.deps.metrics.deadLettered,
    ]) {
      c.inc(labels, 0);
    }
  }

  /**
   * Stops delivering to a subscriber in this process. The subscription is durable: its rules stay,
   * so events keep queueing for it until it is declared again.
   */
  async remove(name: string): Promise<boolean> {
    const a = this.active.get(name);
    if (!a) return false;
    this.active.delete(name);
    await a.worker.stop();
    return true;
  }

  /**
   * Applies every stored subscriber this process has not applied in its stored form: at start (before code re-declares
   * its handlers, so events published early after a restart still queue for them) and, on replicas sharing a store,
   * every refresh, so a subscriber declared or changed through another replica is routed here too. Webhook (secret
   * sealed) and MQTT subscribers, which need no code, also get a delivery worker here; in-process handlers keep the
   * worker their code declared.
   */
  syncStored(): Promise<void> {
    return this.exclusive(async () => {
      for (const record of await this.deps.store.listSubscribers()) {
        if (this.applied.get(record.name) === record.config) continue;
        // Not applied (yet): tried again at the next sync, since the registry may not know a type registered through
        // another replica until its own refresh. Said once per stored form, not every sync.
        const notApplied = (fields: Record<string, unknown>, message: string): void => {
          if (this.unapplied.get(record.name) === record.config) return;
          this.unapplied.set(record.name, record.config);
          this.deps.log.warn({ subscriber: record.name, account: record.account, ...fields }, message);
        };
        try {
          const config = JSON.parse(record.config) as StoredConfig;
          const refused = config.types.find((type) => !this.deps.validator.consumers(type).includes(record.account));
          if (refused !== undefined) {
            // Its rights changed since it was declared, or this replica does not know the type yet: neither routed nor
            // resumed (and not reported as an intrusion).
            notApplied({ type: refused }, 'stored subscriber may not consume a type here; not routed until it may (declare it again if its rights changed)');
            continue;
          }
          const target = storedTarget(config.target, this.deps.secretBox);
          if (target === undefined) {
            const patterns = config.patterns.length > 0 ? config.patterns : [{}];
            this.activate(record.name, patterns.map((p) => ({ ...p, type: config.types })));
          } else {
            const d = declarationOf(record.name, record.account, config, target);
            this.activate(d.name, this.check(d), d);
            this.deps.log.info({ subscriber: d.name, account: d.account, types: d.types }, 'stored subscriber applied');
          }
          this.applied.set(record.name, record.config);
          this.unapplied.delete(record.name);
        } catch (error) {
          notApplied({ err: String(error) }, 'stored subscriber could not be resumed; declare it again');
        }
      }
    });
  }

  /** Runs declarations and syncs one at a time, so a sync never applies a record older than a declaration it follows. */
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  route(event: EventEnvelope): string[] {
    const names = new Set<string>();
    for (const id of this.matcher.match(event)) names.add(id.slice(0, id.lastIndexOf('#')));
    return [...names];
  }

  get(name: string): Active | undefined {
    return this.active.get(name);
  }

  names(): string[] {
    return [...this.active.keys()];
  }

  wake(names: Iterable<string>): void {
    for (const n of names) this.active.get(n)?.worker.wake();
  }

  start(): void {
    this.running = true;
    for (const a of this.active.values()) a.worker.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.active.values()].map((a) => a.worker.stop()));
  }

  /** Validates a declaration and returns its routing rules; refusals of permission are detected. */
  private check(d: SubscriberDeclaration): Record<string, unknown>[] {
    const invalid = (message: string) =>
      new KeywayError(ErrorCode.ConfigInvalid, message, { details: { subscriber: d.name } });
    if (!NAME.test(d.name))
      throw invalid(`subscriber name ${JSON.stringify(d.name)} must be 1-128 letters, digits, ".", "_" or "-"`);
    if (d.types.length === 0) throw invalid(`subscriber ${d.name} must name at least one event type`);
    for (const type of d.types) {
      if (this.deps.validator.owner(type) === undefined) {
        throw new KeywayError(ErrorCode.UnknownEventType, `subscriber ${d.name}: unknown event type ${type}`, {
          details: { type },
        });
      }
      if (!this.deps.validator.consumers(type).includes(d.account)) {
        this.deps.detect({
          kind: 'subscribe',
          account: d.account,
          eventType: type,
          detail: `account ${d.account} is not a consumer of ${type}`,
        });
        throw new KeywayError(
          ErrorCode.Unauthorized,
          `account ${d.account} may not subscribe to ${type}; ask its owner to list ${d.account} as a consumer`,
          { details: { account: d.account, type, subscriber: d.name } },
        );
      }
    }
    if (d.transform) checkTransformer(d.transform);
    const patterns = d.patterns && d.patterns.length > 0 ? d.patterns : [{}];
    const rules = patterns.map((p) => {
      if ('type' in p) throw invalid(`subscriber ${d.name}: put event types in "types", not in a pattern`);
      return { ...p, type: [...d.types] };
    });
    for (const r of rules) compilePattern(r); // throws INVALID_PATTERN before anything changes
    return rules;
  }
}

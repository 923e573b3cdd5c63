import { ChatError } from '@relay-chat/protocol';
import { counter, gauge } from '@relay-chat/service-kit';

/**
 * Who waits for a password hash. Logins (and every other verification of an existing
 * password) are served before registrations: a flood of sign-ups must not slow the people
 * who already have an account.
 */
export type HashPriority = 'login' | 'register';

const PRIORITIES: readonly HashPriority[] = ['login', 'register'];

export interface HashSchedulerOptions {
  /** Hash computations running at once (each scrypt holds one core and 128 MiB). */
  concurrency: number;
  /** Tasks allowed to wait for a slot, per priority; one more is refused with `rate_limited`. */
  maxQueued: Readonly<Record<HashPriority, number>>;
  /**
   * Longest expected wait for a slot, per priority, ms: a task that would likely wait longer
   * (by the measured hash time) is refused at once rather than answered after the client
   * gave up. Default: no bound beyond `maxQueued`.
   */
  maxWaitMs?: Readonly<Partial<Record<HashPriority, number>>>;
  /**
   * Slots registrations may hold at once (default: all but one, so a login always finds a
   * core free of sign-ups; all of them on a one-core machine).
   */
  registerConcurrency?: number;
  /** First guess of one computation's duration (before any was measured), ms. Default 500. */
  initialEstimateMs?: number;
}

interface Waiting {
  start: () => void;
}

const queuedGauge = gauge('auth_password_hash_queued', 'Password-hash tasks waiting for a slot', [
  'priority',
]);
const rejected = counter(
  'auth_password_hash_rejected_total',
  'Password-hash tasks refused because the queue was full',
  ['priority'],
);

/**
 * Password hashing as a scheduled resource: at most `concurrency` computations at once (the
 * cores; more would only share them and multiply the memory), waiting tasks served by
 * priority (logins first) and in arrival order within one, and a bounded queue per priority.
 * A task that would wait past the bound is refused at once with ChatError `rate_limited` and
 * a `retryAfterSec` estimated from the measured hash time, instead of queueing without limit.
 */
export class HashScheduler {
  private readonly queues: Record<HashPriority, Waiting[]> = { login: [], register: [] };
  private running = 0;
  private registering = 0;
  private averageMs: number;

  constructor(private readonly options: HashSchedulerOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError('concurrency must be a positive integer');
    }
    this.averageMs = options.initialEstimateMs ?? 500;
  }

  /** Tasks running now, and waiting per priority. */
  get load(): { running: number; queued: Record<HashPriority, number> } {
    return {
      running: this.running,
      queued: { login: this.queues.login.length, register: this.queues.register.length },
    };
  }

  /**
   * Runs `task` (one hash computation) when a slot is free; throws ChatError `rate_limited`
   * without running it when `priority`'s queue is full.
   */
  async run<T>(priority: HashPriority, task: () => Promise<T>): Promise<T> {
    if (!this.hasSlotFor(priority)) {
      const queue = this.queues[priority];
      const maxWaitMs = this.options.maxWaitMs?.[priority];
      if (
        queue.length >= this.options.maxQueued[priority] ||
        (maxWaitMs !== undefined && this.expectedWaitMs(priority) > maxWaitMs)
      ) {
        rejected.inc({ priority });
        throw new ChatError('rate_limited', 'the server is busy; try again later', {
          retryAfterSec: this.retryAfterSec(priority),
        });
      }
      await new Promise<void>((resolve) => {
        queue.push({ start: resolve });
        queuedGauge.set({ priority }, queue.length);
      });
    } else {
      this.running += 1;
      if (priority === 'register') this.registering += 1;
    }
    // The slot was handed over by `release` (running already counts it) or taken above.
    const startedAt = performance.now();
    try {
      return await task();
    } finally {
      // Exponentially weighted: recent computations count most (the machine's load changes).
      this.averageMs = 0.8 * this.averageMs + 0.2 * (performance.now() - startedAt);
      if (priority === 'register') this.registering -= 1;
      this.running -= 1;
      this.release();
    }
  }

  private get registerSlots(): number {
    return this.options.registerConcurrency ?? Math.max(1, this.options.concurrency - 1);
  }

  private hasSlotFor(priority: HashPriority): boolean {
    if (this.running >= this.options.concurrency) return false;
    return priority === 'login' || this.registering < this.registerSlots;
  }

  /** Hands free slots to waiting tasks: logins first, registrations within their share. */
  private release(): void {
    for (const priority of PRIORITIES) {
      const queue = this.queues[priority];
      while (queue.length > 0 && this.hasSlotFor(priority)) {
        const next = queue.shift()!;
        queuedGauge.set({ priority }, queue.length);
        this.running += 1;
        if (priority === 'register') this.registering += 1;
        next.start();
      }
    }
  }

  /** How long a task of `priority` arriving now would likely wait for a slot, ms. */
  private expectedWaitMs(priority: HashPriority): number {
    let ahead = 0;
    for (const p of PRIORITIES) {
      ahead += this.queues[p].length;
      if (p === priority) break;
    }
    const slots = priority === 'register' ? this.registerSlots : this.options.concurrency;
    return ((ahead + 1) * this.averageMs) / slots;
  }

  /** How long until a task of `priority` arriving now would likely get a slot, seconds (≥ 1). */
  private retryAfterSec(priority: HashPriority): number {
    return Math.max(1, Math.ceil(this.expectedWaitMs(priority) / 1000));
  }
}

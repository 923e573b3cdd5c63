import { ChatError } from '@relay-chat/protocol';
import { counter, type Logger } from '@relay-chat/service-kit';
import { whenReady } from '../bus/redis.js';
import {
  createRedisClient,
  isClusterTarget,
  type RedisClient,
  type RedisTarget,
} from '../bus/redis-target.js';
import { TurnBatches } from '../turn-batches.js';
import type { Budget } from './budget.js';
import type { KeyedBudget } from './keyed-budget.js';

/**
 * GCRA (the generic cell rate algorithm, as in ATM traffic shaping and redis-cell) in one
 * script: each key holds the theoretical arrival time of its next action; an action is
 * allowed while that time is at most `burst` intervals ahead of now. Redis's clock, so every
 * replica agrees. The keys are taken in order (a key may come more than once: one action
 * each); returns, per key, 0 when allowed, else the ms until the next action would be.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local waits = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local next = tat + interval
  if next - now > tolerance then
    waits[i] = math.ceil(next - now - tolerance)
  else
    redis.call('SET', key, next, 'PX', math.ceil(next - now) + 1000)
    waits[i] = 0
  end
end
return waits
`;

/** Most actions in one script call. */
const MAX_TAKES_PER_CALL = 500;

const fallbacks = counter(
  'chat_budget_local_fallbacks_total',
  'Budget checks answered by the replica alone because Redis did not answer',
  ['budget'],
);

export interface RedisBudgetOptions {
  /** One Redis URL, or a Redis Cluster's seed node URLs (each key is one slot: the script stays valid). */
  url: RedisTarget;
  /** Key prefix shared with the bus, e.g. `relay:`. */
  prefix: string;
  /** Names the budget in keys and metrics, e.g. `send`. */
  name: string;
  ratePerSec: number;
  burst: number;
  /** What a refusal says, e.g. "sending too fast". */
  what: string;
  /** Answers while Redis does not (per replica): a Redis outage loosens the budget, never stops sends. */
  fallback: KeyedBudget<string>;
  logger: Logger;
  /** A check not answered within this many ms falls back. Default 500. */
  timeoutMs?: number;
}

interface PendingTake {
  /** The caller's key (the fallback's). */
  key: string;
  /** Its key in Redis. */
  redisKey: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * One budget per key over every replica of the deployment, kept in Redis: a user who spreads
 * sends over sockets on several replicas, or reconnects to another one, draws on the same
 * allowance.
 *
 * Takes are grouped as the append batcher groups messages: one script call is in flight at a
 * time, and the takes that arrive meanwhile go together in the next one (in arrival order,
 * settled in that order, so a user's sends leave here in the order they came). A message
 * used to cost a Redis round trip of its own — a write, a read, and Redis woken — which on a
 * busy replica was more CPU than the message's share of its database batch. On a Redis
 * Cluster the keys of one call may live on different nodes: each goes as its own call of the
 * script, all in one pipeline.
 */
export class RedisBudget implements Budget {
  private readonly redis: RedisClient;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;
  private readonly cluster: boolean;
  private readonly takes = new TurnBatches<PendingTake>(MAX_TAKES_PER_CALL, (batch) => this.send(batch));

  constructor(private readonly options: RedisBudgetOptions) {
    this.intervalMs = 1000 / options.ratePerSec;
    // `burst` actions at once: the next may be up to burst − 1 intervals ahead, plus its own.
    this.toleranceMs = this.intervalMs * options.burst;
    this.redis = createRedisClient(options.url, {
      connectionName: `relay-chat:${options.prefix}budget:${options.name}`.replace(/\s/g, '_'),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs ?? 500,
      enableAutoPipelining: true,
    });
    this.redis.on('error', (err) =>
      options.logger.debug({ err, budget: options.name }, 'budget Redis error'),
    );
    // The same script twice: with its keys counted by the caller, and with one key, which is
    // what a cluster client needs to route each call (and its auto-pipeline) by slot.
    this.redis.defineCommand('relayBudgetTake', { lua: GCRA });
    this.redis.defineCommand('relayBudgetTakeOne', { numberOfKeys: 1, lua: GCRA });
    this.cluster = isClusterTarget(options.url);
  }

  /** Resolves once connected (checks before that fall back); rejects after `timeoutMs`. */
  ready(timeoutMs = 5000): Promise<void> {
    return whenReady(this.redis, timeoutMs);
  }

  /**
   * Takes one action's allowance for `key`; throws ChatError `rate_limited` (with
   * Retry-After) past it. A check Redis does not answer within `timeoutMs` is answered by
   * the fallback.
   */
  take(key: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.takes.push({
        key,
        redisKey: `${this.options.prefix}budget:${this.options.name}:${key}`,
        resolve,
        reject,
      }),
    );
  }

  /** One script call for the batch; every take settles (by the fallback if Redis fails). */
  private async send(batch: PendingTake[]): Promise<void> {
    let waits: number[] | undefined;
    try {
      waits = await this.waitsOf(batch.map((p) => p.redisKey));
    } catch {
      waits = undefined;
    }
    for (const [i, p] of batch.entries()) {
      if (waits === undefined) {
        fallbacks.inc({ budget: this.options.name });
        try {
          this.options.fallback.take(p.key);
          p.resolve();
        } catch (err) {
          p.reject(err);
        }
        continue;
      }
      const waitMs = waits[i]!;
      if (waitMs > 0) {
        p.reject(
          new ChatError('rate_limited', `${this.options.what}; retry in ${waitMs} ms`, {
            retryAfterSec: waitMs / 1000,
          }),
        );
      } else p.resolve();
    }
  }

  /** Each key's wait (0: allowed), from one script call (one per key on a cluster). */
  private async waitsOf(keys: string[]): Promise<number[]> {
    const redis = this.redis as unknown as BudgetCommands;
    const args = [this.intervalMs, this.toleranceMs] as const;
    if (this.cluster) {
      const answers = await Promise.all(keys.map((key) => redis.relayBudgetTakeOne(key, ...args)));
      return answers.map((waits) => Number(waits[0]));
    }
    const waits = await redis.relayBudgetTake(keys.length, ...keys, ...args);
    if (waits.length !== keys.length) throw new Error('budget script answered the wrong number of keys');
    return waits.map(Number);
  }

  async stop(): Promise<void> {
    this.options.fallback.stop();
    this.redis.disconnect();
  }
}

interface BudgetCommands {
  /** numberOfKeys, the keys, then interval and tolerance (ms). */
  relayBudgetTake(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>;
  /** One key, then interval and tolerance (ms). */
  relayBudgetTakeOne(key: string, intervalMs: number, toleranceMs: number): Promise<number[]>;
}

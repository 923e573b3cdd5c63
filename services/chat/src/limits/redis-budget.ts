import { ChatError } from '@relay-chat/protocol';
import { counter, type Logger } from '@relay-chat/service-kit';
import { whenReady } from '../bus/redis.js';
import { createRedisClient, type RedisClient, type RedisTarget } from '../bus/redis-target.js';
import type { Budget } from './budget.js';
import type { KeyedBudget } from './keyed-budget.js';

/**
 * GCRA (the generic cell rate algorithm, as in ATM traffic shaping and redis-cell) in one
 * script: the key holds the theoretical arrival time of the next action; an action is
 * allowed while that time is at most `burst` intervals ahead of now. Redis's clock, so every
 * replica agrees. Returns 0 when allowed, else the ms until the next action would be.
 */
const GCRA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval
if next - now > tolerance then return math.ceil(next - now - tolerance) end
redis.call('SET', KEYS[1], next, 'PX', math.ceil(next - now) + 1000)
return 0
`;

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

/**
 * One budget per key over every replica of the deployment, kept in Redis: a user who spreads
 * sends over sockets on several replicas, or reconnects to another one, draws on the same
 * allowance. One script call per action, pipelined with whatever else the turn sends.
 */
export class RedisBudget implements Budget {
  private readonly redis: RedisClient;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;

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
    this.redis.defineCommand('relayBudgetTake', { numberOfKeys: 1, lua: GCRA });
  }

  /** Resolves once connected (checks before that fall back); rejects after `timeoutMs`. */
  ready(timeoutMs = 5000): Promise<void> {
    return whenReady(this.redis, timeoutMs);
  }

  async take(key: string): Promise<void> {
    let waitMs: number;
    try {
      waitMs = Number(
        await (this.redis as unknown as BudgetCommands).relayBudgetTake(
          `${this.options.prefix}budget:${this.options.name}:${key}`,
          this.intervalMs,
          this.toleranceMs,
        ),
      );
    } catch {
      fallbacks.inc({ budget: this.options.name });
      this.options.fallback.take(key);
      return;
    }
    if (waitMs > 0) {
      throw new ChatError('rate_limited', `${this.options.what}; retry in ${waitMs} ms`, {
        retryAfterSec: waitMs / 1000,
      });
    }
  }

  async stop(): Promise<void> {
    this.options.fallback.stop();
    this.redis.disconnect();
  }
}

interface BudgetCommands {
  relayBudgetTake(key: string, intervalMs: number, toleranceMs: number): Promise<number>;
}

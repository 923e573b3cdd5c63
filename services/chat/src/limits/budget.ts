/** A rate budget per key: takes one action's allowance or throws ChatError `rate_limited` (with Retry-After). */
export interface Budget<K extends string = string> {
  take(key: K): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** A listener for one event; its return value is ignored. */
export type Listener<T> = (payload: T) => void;

/** Called when a listener throws; the default rethrows asynchronously so the bug stays visible. */
export type ListenerErrorHandler = (error: unknown) => void;

const rethrowLater: ListenerErrorHandler = (error) => {
  setTimeout(() => {
    throw error;
  }, 0);
};

/**
 * A small typed event emitter (no dependency on Node's EventEmitter, so it runs in browsers).
 * `Events` maps each event name to its payload type.
 *
 * A listener that throws never interrupts the emitter or the other listeners: the error goes
 * to `onListenerError` (default: rethrown from a fresh task, like an uncaught error).
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  readonly #onListenerError: ListenerErrorHandler;

  constructor(options: { onListenerError?: ListenerErrorHandler } = {}) {
    this.#onListenerError = options.onListenerError ?? rethrowLater;
  }

  /** Subscribes; returns the function that unsubscribes. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    // Wrap so the same function may be subscribed twice and unsubscribed independently.
    const entry: Listener<Events[K]> = (payload) => listener(payload);
    set.add(entry as Listener<never>);
    return () => {
      set.delete(entry as Listener<never>);
    };
  }

  /** Subscribes for the next emission only; returns the function that unsubscribes. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.#listeners.get(event);
    if (!set || set.size === 0) return;
    // Iterate a snapshot: listeners may (un)subscribe while being called.
    for (const listener of [...set] as Listener<Events[K]>[]) {
      try {
        listener(payload);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }
}

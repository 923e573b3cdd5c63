import { type ChatAction, type ChatState, chatReducer, INITIAL_STATE } from './chat-state.js';

/**
 * The state container React reads through useSyncExternalStore: `dispatch` runs the pure
 * reducer and notifies subscribers only when the state object changed.
 */
export class ChatStore {
  #state: ChatState = INITIAL_STATE;
  readonly #listeners = new Set<() => void>();

  getState = (): ChatState => this.#state;

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  };

  dispatch = (action: ChatAction): void => {
    const next = chatReducer(this.#state, action);
    if (next === this.#state) return;
    this.#state = next;
    for (const listener of [...this.#listeners]) listener();
  };
}

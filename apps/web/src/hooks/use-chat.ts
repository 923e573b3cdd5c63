import { createContext, useContext, useSyncExternalStore } from 'react';
import type { AlertCenter } from '../store/alert-center.js';
import type { ChatActions } from '../store/chat-actions.js';
import type { ChatState } from '../store/chat-state.js';
import type { ChatStore } from '../store/chat-store.js';

export interface ChatContextValue {
  store: ChatStore;
  actions: ChatActions;
  /** Notifications and sound; absent in tests that render without them. */
  alerts?: AlertCenter;
}

export const ChatContext = createContext<ChatContextValue | null>(null);

function useChatContext(): ChatContextValue {
  const value = useContext(ChatContext);
  if (!value) throw new Error('useChat* must be used inside <ChatContext.Provider>');
  return value;
}

/**
 * A slice of the chat state; the component re-renders only when the slice changes (by
 * reference), so selectors must return parts of the state, not freshly built objects.
 */
export function useChatState<T>(select: (state: ChatState) => T): T {
  const { store } = useChatContext();
  const get = () => select(store.getState());
  // The same snapshot for server rendering (unit tests render components to markup).
  return useSyncExternalStore(store.subscribe, get, get);
}

export function useChatActions(): ChatActions {
  return useChatContext().actions;
}

export function useAlerts(): AlertCenter | undefined {
  return useChatContext().alerts;
}

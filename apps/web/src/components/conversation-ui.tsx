import type { Conversation, Message } from '@relay-chat/protocol';
import { createContext, useContext } from 'react';

/**
 * What the parts of an open conversation share: the message being answered or edited, the
 * thread panel, and jumps to a message. Provided by ConversationView.
 */
export interface ConversationUi {
  conversation: Conversation;
  /** The message the main composer answers, if any. */
  replyingTo: Message | undefined;
  setReplyingTo(message: Message | undefined): void;
  /** The seq of the message being edited in place, if any. */
  editingSeq: number | undefined;
  setEditingSeq(seq: number | undefined): void;
  /** The root seq of the thread shown in the side panel, if any. */
  threadRoot: number | undefined;
  openThread(root: number | undefined): void;
  /** Scrolls the history to a message (loading its context first if needed) and flashes it. */
  jumpTo(seq: number): void;
  /** The latest jump asked for; `n` tells two jumps to one seq apart. */
  jump: { seq: number; n: number } | undefined;
  /** Puts the focus back in the main composer. */
  focusComposer(): void;
}

export const ConversationUiContext = createContext<ConversationUi | null>(null);

export function useConversationUi(): ConversationUi {
  const value = useContext(ConversationUiContext);
  if (!value) throw new Error('useConversationUi must be used inside a ConversationView');
  return value;
}

/** The same, or undefined outside a conversation (rows rendered on their own in unit tests). */
export function useOptionalConversationUi(): ConversationUi | undefined {
  return useContext(ConversationUiContext) ?? undefined;
}

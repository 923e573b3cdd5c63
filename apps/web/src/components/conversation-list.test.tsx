import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { ChatContext } from '../hooks/use-chat.js';
import type { ChatActions } from '../store/chat-actions.js';
import { ChatStore } from '../store/chat-store.js';
import { ConversationList } from './conversation-list.js';

const noActions = new Proxy({} as ChatActions, {
  get: () => () => {
    throw new Error('not used here');
  },
});

describe('ConversationList', () => {
  it('offers the next actions as buttons when a newcomer has no conversation', () => {
    const store = new ChatStore();
    store.dispatch({ type: 'bootstrap', conversations: [] });
    const html = renderToStaticMarkup(
      <ChatContext.Provider value={{ store, actions: noActions }}>
        <ConversationList
          activeId={undefined}
          onOpen={() => {}}
          onFindPeople={() => {}}
          onBrowseChannels={() => {}}
          onCreateChannel={() => {}}
        />
      </ChatContext.Provider>,
    );
    expect(html).toContain('No conversations yet.');
    const buttons = [...html.matchAll(/<button[^>]*>(.*?)<\/button>/g)].map((m) =>
      m[1]!.replace(/<[^>]+>/g, '').trim(),
    );
    expect(buttons).toEqual(['Start a direct message', 'Join a channel', 'Create a channel']);
  });
});

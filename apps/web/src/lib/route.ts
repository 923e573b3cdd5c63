import { asConversationId, type ConversationId } from '@relay-chat/protocol';

/** What the address bar says is open; kept in the hash so a reload reopens it. */
export type Route = { view: 'home' } | { view: 'conversation'; id: ConversationId };

const CONVERSATION = /^#\/c\/([A-Za-z0-9_-]{1,64})$/;

export function parseRoute(hash: string): Route {
  const match = CONVERSATION.exec(hash);
  return match ? { view: 'conversation', id: asConversationId(match[1]!) } : { view: 'home' };
}

export function routeHash(route: Route): string {
  return route.view === 'conversation' ? `#/c/${route.id}` : '#/';
}

export { type ChatService, type ChatServiceOptions, createChatService } from './app.js';
export { CHANNEL_MEMBERS_WINDOW_MS } from './chat.js';
export { type ChatConfig, loadChatConfig } from './config.js';
export { KeyedBudget } from './limits/keyed-budget.js';
export { MessageSearch, type SearchRequest } from './search/message-search.js';
export { parseQuery } from './search/search-text.js';
export { createMessageStore } from './store/factory.js';
export type { MessageStore } from './store/message-store.js';

export { type ChatService, type ChatServiceOptions, createChatService } from './app.js';
export { type ChatConfig, loadChatConfig } from './config.js';

export { type EmbeddedServer, startEmbeddedServer } from './embedded-server.js';

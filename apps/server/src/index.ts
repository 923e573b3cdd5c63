export { type EmbeddedServer, startEmbeddedServer } from './embedded-server.js';
export {
  API_CSP,
  COMMON_SECURITY_HEADERS,
  type PathKind,
  pathKindOf,
  securityHeadersFor,
  WEB_CLIENT_CSP,
} from './security-headers.js';

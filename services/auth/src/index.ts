export { AUTH_PREFIX, type AuthService, type AuthServiceOptions, createAuthService } from './app.js';
export { type AuthConfig, loadAuthConfig } from './config.js';
export { OWASP_SCRYPT_PARAMS, type ScryptParams } from './passwords.js';
export type { Revocation, RevocationPage } from './revocations.js';
export { type SeededUser, type SeededUsers, type SeedUsersOptions, seedUsers } from './seed-users.js';
export type { UserStore } from './store/user-store.js';

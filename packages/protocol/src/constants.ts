import type { UserId } from './ids.js';

/**
 * The protocol's plain constants, free of schema code, so that browser bundles can take
 * them (through `client.ts`) without the validators.
 */

/** Protocol version carried by the WebSocket subprotocol `relay-chat.v1`. */
export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = 'relay-chat.v1';
/** Prefix of the subprotocol entry that carries a bearer token from browsers. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';

/** Limits shared by server and clients. */
export const LIMITS = {
  /** Longest message body, in UTF-16 code units (what a textarea's maxlength counts). */
  maxBodyChars: 4000,
  /** Largest WebSocket frame the server accepts, in bytes. */
  maxFrameBytes: 64 * 1024,
  /** Largest HTTP request body, in bytes. */
  maxHttpBodyBytes: 16 * 1024,
  usernameMinChars: 3,
  usernameMaxChars: 32,
  passwordMinChars: 8,
  passwordMaxChars: 256,
  /** Largest history page. */
  maxHistoryPage: 200,
  /** Largest user-directory page. */
  maxUsersPage: 100,
  /** Longest conversation (group or channel) name. */
  maxConversationNameChars: 80,
  /** Longest conversation (group or channel) topic. */
  maxTopicChars: 250,
  /** Most members a group may be created with. */
  maxGroupMembers: 256,
  /** Longest client-made message id. */
  maxClientMsgIdChars: 64,
  /** Longest last-message preview in a conversation listing (longer bodies are cut, with an ellipsis). */
  maxPreviewChars: 500,
  /** Most users one message may mention. */
  maxMentions: 50,
  /** Most distinct emoji one message may carry as reactions. */
  maxReactionsPerMessage: 20,
  /** Most reacting users a reaction summary lists (its `count` is exact). */
  reactionUsersShown: 100,
  /** Longest reaction emoji, in UTF-16 code units (one grapheme; flags and families are long). */
  maxEmojiChars: 32,
  /** Most unread mention seqs a conversation lists (`mentionSeqs`; `unreadMentions` is exact). */
  maxMentionSeqs: 100,
  /** Largest page of changes (`GET …/changes`) and of a thread's replies. */
  maxChangesPage: 200,
  /** Longest search query, in UTF-16 code units. */
  maxSearchQueryChars: 256,
  /** Largest page of search results. */
  maxSearchPage: 50,
} as const;

export const USERNAME_PATTERN = '^[a-z0-9_.-]{3,32}$';

export const MEMBERS_PREVIEW = 100;

/**
 * The `createdBy` of conversations the server made itself (the default channels new users
 * join): an id no user has, so such a conversation has no owner who could rename it.
 */
export const SYSTEM_USER_ID = 'system' as UserId;

/**
 * Branded identifiers: a UserId cannot be passed where a ConversationId is expected, though
 * both are strings on the wire. Values from the protocol's schemas arrive branded; these
 * casts are for the few places that make one from a string they trust (a verified token's
 * subject, a database row, a test fixture).
 */
declare const brand: unique symbol;

/** `T` tagged with `Name` at the type level only (no runtime cost). */
export type Brand<T, Name extends string> = T & { readonly [brand]: Name };

export type UserId = Brand<string, 'UserId'>;
export type ConversationId = Brand<string, 'ConversationId'>;
export type MessageId = Brand<string, 'MessageId'>;

export const asUserId = (value: string): UserId => value as UserId;
export const asConversationId = (value: string): ConversationId => value as ConversationId;
export const asMessageId = (value: string): MessageId => value as MessageId;

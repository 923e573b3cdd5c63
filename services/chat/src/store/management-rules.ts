import { ChatError, type ConversationKind, type UserId } from '@relay-chat/protocol';

/**
 * The owner/member rule of conversation management, written once and applied by every
 * backend inside the transaction that commits the change (as `append` checks membership),
 * so a member who left or a conversation that changed in between cannot slip through.
 *
 * The owner of a group or channel is its creator (`createdBy`); conversations the server
 * made (SYSTEM_USER_ID) have none. Refusals, in this order: `not_found` (no such
 * conversation), `not_member` (the actor is not in it: outsiders learn nothing more),
 * `forbidden` (the kind does not allow the change, or the actor is not the owner).
 */
export type ManagedChange = 'rename' | 'members';

export interface ManagedConversation {
  kind: ConversationKind;
  createdBy: UserId;
}

export function checkManager(
  conversation: ManagedConversation | undefined,
  actorIsMember: boolean,
  actor: UserId,
  change: ManagedChange,
): asserts conversation is ManagedConversation {
  if (!conversation) throw new ChatError('not_found', 'no such conversation');
  if (!actorIsMember) throw new ChatError('not_member');
  if (change === 'rename' && conversation.kind === 'dm') {
    throw new ChatError('forbidden', 'a direct conversation has no name or topic');
  }
  if (change === 'members' && conversation.kind !== 'group') {
    throw new ChatError(
      'forbidden',
      conversation.kind === 'dm'
        ? 'a direct conversation has exactly two members'
        : 'people join and leave channels themselves',
    );
  }
  if (conversation.createdBy !== actor) {
    throw new ChatError(
      'forbidden',
      change === 'rename'
        ? 'only the owner may rename it or change its topic'
        : 'only the owner may add or remove members',
    );
  }
}

/** A group may not grow past `maxMembers`: `validation_failed` when `count` would. */
export function checkGroupSize(count: number, maxMembers: number): void {
  if (count > maxMembers) {
    throw new ChatError('validation_failed', `a group has at most ${maxMembers} members`, {
      fields: [{ field: '/members', message: `at most ${maxMembers} members in all` }],
    });
  }
}

/** A member's own settings of a conversation: only DMs can be hidden (groups and channels are left). */
export function checkSettings(kind: ConversationKind, settings: MemberSettings): void {
  if (settings.hidden === true && kind !== 'dm') {
    throw new ChatError('forbidden', 'only a direct conversation can be hidden; leave a group or channel');
  }
}

/** What a member may change of their own view of a conversation (absent: unchanged). */
export interface MemberSettings {
  /** No badges or notifications, except for mentions (the clients' rule). */
  muted?: boolean;
  /** Hidden until a message with a higher seq than its last one now; false shows it again. */
  hidden?: boolean;
}

/** Whether a member's DM is hidden now: it was hidden at `hiddenSeq` and no message came since. */
export function isHidden(hiddenSeq: number | null | undefined, lastSeq: number): boolean {
  return hiddenSeq !== null && hiddenSeq !== undefined && lastSeq <= hiddenSeq;
}

import type { ConversationId, Message } from '@relay-chat/protocol';

/**
 * The newest state seen in a `change` for messages not delivered yet (a change may overtake
 * the message it changes: they can come from different replicas). When the message is
 * delivered, it is delivered in that state, so a `message` event never shows a state older
 * than one already announced by a `change`. Bounded; entries leave once their message (or
 * a later one of the same conversation) is delivered.
 */
export class NewestStates {
  readonly #byConv = new Map<ConversationId, Map<number, Message>>();
  readonly #max: number;
  #size = 0;

  constructor(options: { max?: number } = {}) {
    this.#max = Math.max(1, options.max ?? 10_000);
  }

  get size(): number {
    return this.#size;
  }

  /** Remembers `message` when it is newer than what is held for it. */
  note(message: Message): void {
    if (this.#size >= this.#max) return;
    let map = this.#byConv.get(message.conv);
    if (!map) {
      map = new Map();
      this.#byConv.set(message.conv, map);
    }
    const held = map.get(message.seq);
    if (held && (held.changeSeq ?? 0) >= (message.changeSeq ?? 0)) return;
    if (!held) this.#size += 1;
    map.set(message.seq, message);
  }

  /**
   * The state to deliver for `message`: the newest one seen (keeping the delivered copy's
   * `clientMsgId`, which only history and live frames give its sender). Forgets what is
   * held for it and for earlier seqs of its conversation (delivered in order, they are done).
   */
  take(message: Message): Message {
    const map = this.#byConv.get(message.conv);
    if (!map) return message;
    const held = map.get(message.seq);
    for (const seq of map.keys()) {
      if (seq <= message.seq) {
        map.delete(seq);
        this.#size -= 1;
      }
    }
    if (map.size === 0) this.#byConv.delete(message.conv);
    if (!held || (held.changeSeq ?? 0) <= (message.changeSeq ?? 0)) return message;
    const { clientMsgId } = message;
    return clientMsgId === undefined || held.clientMsgId !== undefined ? held : { ...held, clientMsgId };
  }

  forget(conv: ConversationId): void {
    this.#size -= this.#byConv.get(conv)?.size ?? 0;
    this.#byConv.delete(conv);
  }
}

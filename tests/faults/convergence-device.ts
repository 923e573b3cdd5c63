/**
 * A device of the convergence test: an SDK client and the state a chat app would show,
 * built only from what the SDK tells it (`message` and `change` events, the conversation
 * list). Each message is held in the newest state seen; a state with a lower `changeSeq`
 * than the held one never replaces it.
 */
import { createHash } from 'node:crypto';
import type { ConversationId, Message } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor } from '@relay-chat/sdk';
import WebSocket from 'ws';
import type { TestUser } from '../support/http.js';

export interface DeviceTarget {
  url: string;
  wsUrl: string;
}

export class Device {
  readonly client: ChatClient;
  /** conv → seq → newest state seen. */
  readonly messages = new Map<ConversationId, Map<number, Message>>();
  /** (conv, seq) delivered twice by the SDK's `message` event. */
  duplicates = 0;
  /** Changes applied (a `change` event that replaced a held state or brought a new one). */
  changesApplied = 0;

  constructor(
    target: DeviceTarget,
    readonly user: TestUser,
    readonly label: string,
    /** Where to resume each conversation from (seq), as a device that held it up to there. */
    resumeFrom: Record<string, number> = {},
  ) {
    this.client = new ChatClient({
      url: target.wsUrl,
      httpUrl: target.url,
      getToken: () => user.accessToken,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      reconnect: { baseDelayMs: 100, maxDelayMs: 1000 },
      sendRetry: { baseDelayMs: 200, maxDelayMs: 1000 },
      connectTimeoutMs: 5000,
      resumeFrom: resumeFrom as Record<ConversationId, number>,
    });
    this.client.on('message', (message) => {
      // The SDK promises each (conv, seq) once; a state known only from a `change` (frames
      // of two replicas may overtake each other) does not count as a delivery.
      const key = `${message.conv}:${message.seq}`;
      if (this.seen.has(key)) this.duplicates += 1;
      this.seen.add(key);
      this.put(message);
    });
    this.client.on('change', ({ message }) => {
      if (this.put(message)) this.changesApplied += 1;
    });
  }

  private readonly seen = new Set<string>();

  connect(): void {
    this.client.connect();
  }

  close(): void {
    this.client.close();
  }

  private conv(conv: ConversationId): Map<number, Message> {
    let map = this.messages.get(conv);
    if (!map) {
      map = new Map();
      this.messages.set(conv, map);
    }
    return map;
  }

  /** Holds `message` unless a newer state of it is held; true when it replaced something or was new. */
  private put(message: Message): boolean {
    const map = this.conv(message.conv);
    const held = map.get(message.seq);
    if (held && (held.changeSeq ?? 0) > (message.changeSeq ?? 0)) return false;
    if (held && (held.changeSeq ?? 0) === (message.changeSeq ?? 0)) return false;
    map.set(message.seq, message);
    return true;
  }

  /** The messages of a conversation in seq order, canonical (no clientMsgId). */
  transcript(conv: ConversationId): Message[] {
    return [...(this.messages.get(conv)?.values() ?? [])].sort((a, b) => a.seq - b.seq).map(canonical);
  }
}

/** A message as every device must hold it: its sender's client-made id is not part of it. */
export function canonical(message: Message): Message {
  const { clientMsgId: _omit, ...rest } = message;
  return rest;
}

/** A hash of messages (in the order given) over a canonical JSON form (sorted keys). */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

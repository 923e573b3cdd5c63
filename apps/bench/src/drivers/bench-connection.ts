/** One conversation as the server announced it in `ready`. */
export interface ReadyConversation {
  id: string;
  /** Highest seq stored when the connection became ready (0 when unknown: baselines). */
  lastSeq: number;
}

/** What a connection tells the generator. Called synchronously from socket events. */
export interface ConnectionListener {
  /** A bench message; `arrivalUs` is when its bytes arrived, epoch µs. */
  onMessage(conv: string, seq: number, intendedUs: number, arrivalUs: number): void;
  onAck(clientMsgId: string, conv: string, seq: number): void;
  /** A typed `error` frame; `ref` is the clientMsgId for send errors. */
  onError(code: string, ref: string | undefined): void;
  /** The connection ended; `byClient` when we closed it ourselves. */
  onClose(code: number, reason: string, byClient: boolean): void;
  /** v1.2 `change` frame (relay-chat): `arrivalUs` as for messages. */
  onChange?(conv: string, changeSeq: number, arrivalUs: number): void;
  /** v1.2 `change_ack`: `changeSeq` absent when nothing changed. */
  onChangeAck?(ref: string, conv: string, seq: number, changeSeq: number | undefined): void;
  /** `typing` frame (relay-chat): `user` is typing in `conv`. */
  onTyping?(conv: string, user: string, arrivalUs: number): void;
  /** `presence` frame (relay-chat). */
  onPresence?(user: string, online: boolean): void;
}

/**
 * A client connection as the generator drives it, whatever the wire protocol. `open()`
 * resolves once the server said `ready` (the connection receives everything from then on)
 * and rejects with a short error code (`http_401`, `timeout`, `econnrefused` …).
 */
export interface BenchConnection {
  open(timeoutMs: number): Promise<ReadyConversation[]>;
  send(conv: string, clientMsgId: string, body: string): void;
  /** v1.2 `edit` / `react` frames with a `ref` (relay-chat only; absent on drivers without them). */
  edit?(conv: string, seq: number, body: string, ref: string): void;
  react?(conv: string, seq: number, emoji: string, on: boolean, ref: string): void;
  /** v1 `typing` frame (relay-chat only). */
  typing?(conv: string): void;
  /** Drops the connection at once, without a closing handshake (simulated network loss). */
  terminate(): void;
  close(): void;
  readonly isOpen: boolean;
}

/** A short error code for a connection failure. */
export function errorCodeOf(err: unknown): string {
  if (typeof err === 'string') return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code.toLowerCase();
  const message = err instanceof Error ? err.message : String(err);
  return (
    message
      .slice(0, 40)
      .replace(/[^a-z0-9]+/gi, '_')
      .toLowerCase() || 'unknown'
  );
}

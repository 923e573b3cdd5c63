import { ChatError } from '@relay-chat/protocol';
import { checkAppendInputs } from './store/conversation-keys.js';
import type {
  AppendInput,
  AppendOutcome,
  AppendRefusal,
  AppendResult,
  MessageStore,
} from './store/message-store.js';
import { TurnBatches } from './turn-batches.js';

interface Pending {
  input: AppendInput;
  resolve: (result: AppendResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: appends arriving while a batch is being written wait and go together in
 * the next transaction, so many small conversations cost one durable commit per batch,
 * not per message. One batch is in flight at a time, which keeps this replica's messages
 * in arrival order (a sender's two messages never swap seqs).
 */
export class AppendBatcher {
  private readonly batches: TurnBatches<Pending>;

  /** `maxBatch`: most messages in one transaction (default 500). */
  constructor(
    private readonly store: MessageStore,
    maxBatch = 500,
  ) {
    this.batches = new TurnBatches(maxBatch, (batch) => this.write(batch));
  }

  /**
   * Stores one message with the next batch. Rejects with ChatError `not_member` when the
   * sender is not a member of the conversation when the batch commits, `not_found` when
   * the conversation does not exist, `validation_failed` for text no store can keep (before
   * it joins a batch, so that it cannot fail the others), and `validation_failed` naming
   * `/replyTo` or `/mentions` when the store refuses the reply or the mentions.
   */
  append(input: AppendInput): Promise<AppendResult> {
    try {
      checkAppendInputs([input]);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => this.batches.push({ input, resolve, reject }));
  }

  /** Resolves when everything queued so far is written. */
  drain(): Promise<void> {
    return this.batches.drain();
  }

  private async appendOneByOne(batch: Pending[]): Promise<void> {
    for (const p of batch) {
      try {
        const [outcome] = await this.store.append([p.input]);
        settle(p, outcome!);
      } catch (err) {
        p.reject(err);
      }
    }
  }

  /** One transaction for the batch; every message's promise settles. */
  private async write(batch: Pending[]): Promise<void> {
    try {
      const outcomes = await this.store.append(batch.map((p) => p.input));
      for (const [i, p] of batch.entries()) settle(p, outcomes[i]!);
    } catch (err) {
      // The store refuses a non-member or an unknown conversation per message, so a batch
      // fails only on a database error (every message gets it) or, unexpectedly, a typed
      // one: then write them one by one so that only the bad one fails.
      if (batch.length > 1 && err instanceof ChatError && !err.retryable) await this.appendOneByOne(batch);
      else for (const p of batch) p.reject(err);
    }
  }
}

function settle(p: Pending, outcome: AppendOutcome): void {
  if ('refused' in outcome) p.reject(refusalError(outcome.refused));
  else p.resolve(outcome);
}

/** The typed error of a refusal: a bad reply or bad mentions are `validation_failed` naming the field. */
export function refusalError(refused: AppendRefusal): ChatError {
  switch (refused) {
    case 'bad_reply':
      return fieldError('/replyTo', 'replyTo names no message of this conversation');
    case 'bad_mentions':
      return fieldError('/mentions', 'mentions must name members of this conversation');
    default:
      return new ChatError(refused);
  }
}

function fieldError(field: string, message: string): ChatError {
  return new ChatError('validation_failed', message, { fields: [{ field, message }] });
}

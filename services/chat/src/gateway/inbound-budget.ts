import { TokenBucket } from '../limits/token-bucket.js';

export interface InboundBudgetOptions {
  /** Frames a connection may send per second, sustained. */
  framesPerSec: number;
  /** Frames it may send at once. */
  burst: number;
  /** Least time between two `rate_limited` notices to one connection, ms. */
  noticeIntervalMs: number;
}

/** What to do with one arriving frame. */
export type InboundVerdict =
  /** Handle it. */
  | { kind: 'accept' }
  /** Drop it; tell the client (at most once per notice interval) how long to wait. */
  | { kind: 'drop'; notify: boolean; retryAfterMs: number }
  /** Drop it and close the connection: it kept flooding after being told. */
  | { kind: 'close' };

/**
 * One connection's budget of inbound frames of every type, counted as each frame arrives
 * — before it is parsed, before anything reads the store — so a flood costs the server
 * the parsing of the WebSocket frame and nothing more. A connection that sends more than
 * one whole burst past its budget within a notice interval, after being told to wait, is
 * not a client that slipped: it is closed.
 */
export class InboundBudget {
  private readonly bucket: TokenBucket;
  private lastNoticeAt = Number.NEGATIVE_INFINITY;
  private droppedSinceNotice = 0;

  constructor(
    private readonly options: InboundBudgetOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.bucket = new TokenBucket(options.framesPerSec, options.burst, now);
  }

  onFrame(): InboundVerdict {
    if (this.bucket.take()) return { kind: 'accept' };
    const t = this.now();
    const retryAfterMs = Math.max(1, Math.ceil(this.bucket.retryAfterSec() * 1000));
    if (t - this.lastNoticeAt >= this.options.noticeIntervalMs) {
      this.lastNoticeAt = t;
      this.droppedSinceNotice = 1;
      return { kind: 'drop', notify: true, retryAfterMs };
    }
    this.droppedSinceNotice += 1;
    if (this.droppedSinceNotice > this.options.burst) return { kind: 'close' };
    return { kind: 'drop', notify: false, retryAfterMs };
  }
}

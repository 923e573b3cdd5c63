import { counter } from '@relay-chat/service-kit';
import type { Session } from './session.js';

const deliveries = counter('chat_ws_frames_out_total', 'Frames written to sockets');

/**
 * Writes queued frames: one write pass over the sessions with pending frames every
 * `intervalMs`. At fan-out rates each bus event arrives in its own event-loop turn, so
 * flushing per turn would still be one kernel write per delivery; a short window lets
 * every socket take all of the window's frames in one write. The window stretches by
 * itself under load (the timer fires only when the loop is free), which is when
 * coalescing pays most.
 *
 * Everything that queues frames goes through `deliver`/`send` here, so a session never
 * has to know who flushes it: data flows bus → fan-out → sessions → this scheduler.
 */
export class FlushScheduler {
  private readonly dirty = new Set<Session>();
  private scheduled = false;

  /** `intervalMs`: longest wait before queued frames are written (0 = end of the event-loop turn). */
  constructor(private readonly intervalMs: number) {}

  /** Queues a ready-made frame on `session` and schedules the write. */
  deliver(session: Session, frame: Buffer, ephemeral = false): void {
    if (session.enqueue(frame, ephemeral)) this.schedule(session);
  }

  /** Schedules a write for a session whose intent method reported pending frames. */
  schedule(session: Session): void {
    this.dirty.add(session);
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.intervalMs > 0) setTimeout(() => this.flushAll(), this.intervalMs);
    else setImmediate(() => this.flushAll());
  }

  /** Writes everything queued now (shutdown: nothing waits for the timer). */
  flushAll(): void {
    this.scheduled = false;
    let frames = 0;
    for (const session of this.dirty) frames += session.flush();
    this.dirty.clear();
    if (frames > 0) deliveries.inc(frames);
  }

  /** Forgets a closed session. */
  forget(session: Session): void {
    this.dirty.delete(session);
  }
}

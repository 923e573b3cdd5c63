/**
 * What the coordinator and the load-generator processes say to each other (over the
 * child-process IPC channel, or directly for an in-process generator).
 */
import type { ReceiverReport } from './delivery-tracker.js';
import type { Range } from './interval-set.js';
import type { AckedChange, MixShares } from './mixed.js';
import type { ScheduleSpec } from './send-schedule.js';

/** `relay`: the relay-chat WebSocket protocol (relay-chat and the ws baselines); `socketio`: Socket.IO. */
export type DriverKind = 'relay' | 'socketio';

/** One client connection a generator opens. */
export interface ClientSpec {
  /** Index of the bench user (several connections may share one user: devices). */
  user: number;
  userId: string;
  /** `ws://…/ws?…` for the relay driver; the server's `http://…` base for Socket.IO. */
  url: string;
  /** Access token sent as `Authorization: Bearer` (relay-chat). */
  token?: string;
  /** Conversations this connection receives. */
  convs: string[];
  /** Present when this connection sends: its global sender index and conversation. */
  sender?: { index: number; conv: string };
}

export interface GeneratorPlan {
  /** Index of this generator process. */
  id: number;
  driver: DriverKind;
  clients: ClientSpec[];
  /** Message body size, characters. */
  messageSize: number;
  /** Connection attempts in flight at once in this process. */
  connectConcurrency: number;
  /** Give up on one connection attempt after this long, ms. */
  connectTimeoutMs: number;
  /** Unique per run: prefixes every clientMsgId. */
  runId: string;
  /** relay-chat's HTTP base, for fetching history after a reconnect (absent: no resume from history). */
  historyBaseUrl?: string;
  /** mixed: shares of the schedule's slots that are edits and reaction toggles instead of sends. */
  mix?: MixShares;
}

/** One measured phase: a send schedule and the window whose latencies count. */
export interface PhaseSpec {
  id: number;
  /** Absent: nobody sends in this phase (reconnect without traffic). */
  schedule?: ScheduleSpec;
  /** Messages intended for `[measureFromMs, measureToMs)` count in the latency histogram (epoch ms). */
  measureFromMs: number;
  measureToMs: number;
}

export type CoordinatorMessage =
  | { type: 'init'; plan: GeneratorPlan }
  | { type: 'connect' }
  | { type: 'phase'; phase: PhaseSpec }
  | { type: 'drop'; atMs: number }
  | { type: 'finish-phase'; phaseId: number }
  /** mixed: changes other generators got acknowledged (their receivers here time the change frames). */
  | { type: 'changes'; changes: AckedChange[] }
  | { type: 'close' };

/** Counters of one generator, cumulative within a phase. */
export interface GeneratorCounters {
  sent: number;
  acked: number;
  /** Bench messages received (every receiver counts). */
  delivered: number;
  /** Of those, messages intended inside the measured window. */
  deliveredMeasured: number;
  /** Connections open now. */
  open: number;
  /** Sends whose intended time is inside the measured window. */
  sentMeasured: number;
  /** mixed: edit and react frames sent, acknowledged with a changeSeq, and `change` frames received (every receiver). */
  changesSent: number;
  changesAcked: number;
  changesDelivered: number;
}

export interface ConnectOutcome {
  ok: number;
  failed: number;
  /** Connect latency (attempt → `ready`), encoded histogram in µs. */
  histogram: string;
  /** Time from the first attempt to the last `ready`, ms. */
  elapsedMs: number;
  errors: Record<string, number>;
  /** Messages recovered from history after a reconnect. */
  recovered: number;
}

export interface PhaseResult {
  phaseId: number;
  counters: GeneratorCounters;
  /** Sends never acknowledged. */
  unacked: number;
  /** Acknowledged seqs per conversation. */
  acked: Record<string, Range[]>;
  receivers: ReceiverReport[];
  /** Latency of measured messages, encoded histogram in µs. */
  histogram: string;
  errors: Record<string, number>;
  /** Server-initiated closes by code during the phase. */
  closes: Record<string, number>;
  /** mixed: the changes made and their `change` frames. */
  changes?: ChangePhaseResult;
}

export interface ChangePhaseResult {
  edits: number;
  reactions: number;
  /** Acknowledged without a changeSeq (nothing changed: should be 0, the toggles track their state). */
  noops: number;
  /** Sent, never answered. */
  unacked: number;
  /** Acknowledged changeSeqs per conversation. */
  acked: Record<string, Range[]>;
  /** Each receiver's changeSeqs per conversation. */
  receivers: ReceiverReport[];
  /** change → `change` frame at the other members, measured changes, encoded histogram in µs. */
  histogram: string;
  /** `change` frames whose change never became known here (not timed). */
  unmatched: number;
}

export type GeneratorMessage =
  | { type: 'initialized'; pid: number }
  | { type: 'progress'; phase: 'connect' | 'reconnect'; done: number; failed: number }
  | { type: 'connected'; outcome: ConnectOutcome }
  | { type: 'reconnected'; outcome: ConnectOutcome }
  | {
      type: 'tick';
      phaseId: number;
      atMs: number;
      counters: GeneratorCounters;
      /** Latencies of deliveries since the last tick, encoded histogram in µs. */
      interval: string;
      /** mixed: changes acknowledged since the last tick (relayed to every generator). */
      changes?: AckedChange[];
    }
  | { type: 'phase-result'; result: PhaseResult }
  | { type: 'closed' }
  | { type: 'fatal'; message: string };

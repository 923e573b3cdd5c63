import { makeBody, nowMs } from './bench-message.js';
import { ConversationLog } from './delivery-tracker.js';
import type { BenchConnection, ReadyConversation } from './drivers/bench-connection.js';
import { RelayConnection } from './drivers/relay-connection.js';
import { SocketIoConnection } from './drivers/socketio-connection.js';
import type {
  ClientSpec,
  ConnectOutcome,
  CoordinatorMessage,
  GeneratorCounters,
  GeneratorMessage,
  GeneratorPlan,
  PhaseSpec,
} from './generator-protocol.js';
import { LatencyHistogram } from './histogram.js';
import { fetchMissed } from './history-resume.js';
import { IntervalSet } from './interval-set.js';
import {
  type AckedChange,
  ChangeTimer,
  MixedSender,
  type PlannedChange,
  pickOperation,
  unitHash,
} from './mixed.js';
import { SendCursor } from './send-schedule.js';

/** Progress ticks to the coordinator, ms. */
const TICK_MS = 1000;
/** Most sends in one event-loop turn when the schedule is behind (the rest go next turn). */
const MAX_SENDS_PER_TURN = 2000;

interface Outgoing {
  clientMsgId: string;
  conv: string;
  body: string;
}

interface Client {
  spec: ClientSpec;
  conn: BenchConnection;
  logs: Map<string, ConversationLog>;
  /** Per conversation, the seq after which a resume fetches history (highest seen or announced). */
  resumeAfter: Map<string, number>;
  /** Sent, not yet acknowledged (resent after a reconnect: sends are idempotent per clientMsgId). */
  pending: Map<string, Outgoing>;
  /** Due while the connection was down; sent once it is back. */
  queued: Outgoing[];
  reconnecting: boolean;
  /** mixed, sending connections: what it may edit and react to. */
  mixed: MixedSender | undefined;
  /** mixed: every receiver's changeSeqs per conversation. */
  changeLogs: Map<string, ConversationLog>;
  /** mixed: edit/react frames sent, not yet answered, by ref. */
  pendingChanges: Map<string, PendingChange>;
}

interface PendingChange {
  conv: string;
  intendedUs: number;
  /** MixedSender's key of the change in flight. */
  key: string;
}

interface Phase {
  spec: PhaseSpec;
  /** The measured window in µs, rounded as bodies round intended times (so boundary messages agree). */
  measureFromUs: number;
  measureToUs: number;
  cursor: SendCursor | undefined;
  senders: Client[];
  counters: GeneratorCounters;
  histogram: LatencyHistogram;
  acked: Map<string, IntervalSet>;
  errors: Record<string, number>;
  closes: Record<string, number>;
  timer: NodeJS.Timeout | undefined;
  /** mixed: acknowledged changeSeqs per conversation, latencies of measured changes, counts. */
  changeAcked: Map<string, IntervalSet>;
  changeHistogram: LatencyHistogram;
  /** Acknowledged since the last tick: sent to the coordinator, which relays them to every generator. */
  newChanges: AckedChange[];
  edits: number;
  reactions: number;
  noops: number;
}

/**
 * One load-generator process: opens its share of the connections, sends on the open-loop
 * schedule, times every delivery against the intended send time in the body, keeps each
 * receiver's seq log, and reports to the coordinator once a second.
 */
export class LoadGenerator {
  private plan: GeneratorPlan | undefined;
  private clients: Client[] = [];
  private phase: Phase | undefined;
  /** Deliveries since the last tick: of measured messages, and of the others (warm-up, drain). */
  private readonly intervalMeasured = new LatencyHistogram();
  private readonly intervalOther = new LatencyHistogram();
  private ticker: NodeJS.Timeout | undefined;
  private connectErrors: Record<string, number> = {};
  private recovered = 0;
  /** Times `change` frames once their change's intended time is known (from any generator). */
  private readonly changeTimer = new ChangeTimer((latencyUs, intendedUs) => {
    const phase = this.phase;
    if (phase && intendedUs >= phase.measureFromUs && intendedUs < phase.measureToUs) {
      phase.changeHistogram.record(latencyUs);
    }
  });

  constructor(private readonly emit: (message: GeneratorMessage) => void) {}

  handle(message: CoordinatorMessage): void {
    switch (message.type) {
      case 'init':
        this.plan = message.plan;
        this.clients = message.plan.clients.map((spec) => this.makeClient(spec, message.plan));
        this.emit({ type: 'initialized', pid: process.pid });
        return;
      case 'connect':
        void this.connectAll('connect', nowMs()).then((outcome) => this.emit({ type: 'connected', outcome }));
        return;
      case 'phase':
        this.startPhase(message.phase);
        return;
      case 'drop':
        setTimeout(() => this.dropAll(message.atMs), Math.max(0, message.atMs - nowMs()));
        return;
      case 'finish-phase':
        this.finishPhase(message.phaseId);
        return;
      case 'changes':
        for (const change of message.changes) this.changeTimer.learn(change);
        return;
      case 'close':
        this.closeAll();
        return;
    }
  }

  // --- connections ---------------------------------------------------------------------

  private makeClient(spec: ClientSpec, plan: GeneratorPlan): Client {
    const client: Client = {
      spec,
      conn: undefined as unknown as BenchConnection,
      logs: new Map(spec.convs.map((c) => [c, new ConversationLog()])),
      resumeAfter: new Map(),
      pending: new Map(),
      queued: [],
      reconnecting: false,
      mixed: plan.mix && spec.sender ? new MixedSender() : undefined,
      changeLogs: new Map(spec.convs.map((c) => [c, new ConversationLog()])),
      pendingChanges: new Map(),
    };
    const listener = {
      onMessage: (conv: string, seq: number, intendedUs: number, arrivalUs: number) =>
        this.onMessage(client, conv, seq, intendedUs, arrivalUs),
      onAck: (id: string, conv: string, seq: number) => this.onAck(client, id, conv, seq),
      onError: (code: string, ref: string | undefined) => this.onError(client, code, ref),
      onClose: (code: number, reason: string, byClient: boolean) =>
        this.onClose(client, code, reason, byClient),
      onChange: (conv: string, changeSeq: number, arrivalUs: number) =>
        this.onChange(client, conv, changeSeq, arrivalUs),
      onChangeAck: (ref: string, conv: string, seq: number, changeSeq: number | undefined) =>
        this.onChangeAck(client, ref, conv, seq, changeSeq),
    };
    client.conn =
      plan.driver === 'socketio'
        ? new SocketIoConnection(spec.url, spec.userId, spec.convs, listener)
        : new RelayConnection(spec.url, spec.token, listener);
    return client;
  }

  /** Opens every connection (bounded concurrency); latency is measured from `sinceMs`. */
  private async connectAll(kind: 'connect' | 'reconnect', sinceMs: number): Promise<ConnectOutcome> {
    const plan = this.plan!;
    const histogram = new LatencyHistogram();
    const errors: Record<string, number> = {};
    let ok = 0;
    let failed = 0;
    let next = 0;
    const progress = setInterval(() => this.emit({ type: 'progress', phase: kind, done: ok, failed }), 500);
    const worker = async () => {
      while (next < this.clients.length) {
        const client = this.clients[next++]!;
        const started = kind === 'connect' ? nowMs() : sinceMs;
        try {
          await this.openClient(client, plan, kind === 'reconnect');
          histogram.record((nowMs() - started) * 1000);
          ok++;
        } catch (err) {
          failed++;
          const code = String(err);
          errors[code] = (errors[code] ?? 0) + 1;
        }
      }
    };
    const first = nowMs();
    await Promise.all(Array.from({ length: Math.max(1, plan.connectConcurrency) }, worker));
    clearInterval(progress);
    return {
      ok,
      failed,
      histogram: histogram.encode(),
      elapsedMs: nowMs() - first,
      errors: this.takeConnectErrors(errors),
      recovered: this.takeRecovered(),
    };
  }

  private async openClient(client: Client, plan: GeneratorPlan, resume: boolean): Promise<void> {
    const convs = await client.conn.open(plan.connectTimeoutMs);
    if (resume) await this.resume(client, convs);
    else for (const c of convs) client.resumeAfter.set(c.id, c.lastSeq);
    for (const out of client.pending.values()) client.conn.send(out.conv, out.clientMsgId, out.body);
    const queued = client.queued;
    client.queued = [];
    for (const out of queued) this.transmit(client, out);
  }

  /** Fetches from history what was stored while the connection was down (relay-chat only). */
  private async resume(client: Client, convs: ReadyConversation[]): Promise<void> {
    const base = this.plan?.historyBaseUrl;
    const token = client.spec.token;
    for (const { id, lastSeq } of convs) {
      const after = Math.max(client.resumeAfter.get(id) ?? 0, client.logs.get(id)?.highestSeq ?? 0);
      if (!base || !token || lastSeq <= after) continue;
      const covered = await fetchMissed(base, token, id, after, lastSeq, (seq, intendedUs) => {
        if (client.logs.get(id)?.recover(seq) && intendedUs !== undefined) {
          this.recovered++;
          this.recordDelivery(intendedUs, nowMs() * 1000);
        }
      });
      client.resumeAfter.set(id, covered);
    }
  }

  private takeConnectErrors(errors: Record<string, number>): Record<string, number> {
    for (const [code, n] of Object.entries(this.connectErrors)) errors[code] = (errors[code] ?? 0) + n;
    this.connectErrors = {};
    return errors;
  }

  private takeRecovered(): number {
    const n = this.recovered;
    this.recovered = 0;
    return n;
  }

  private dropAll(atMs: number): void {
    for (const client of this.clients) client.conn.terminate();
    void this.connectAll('reconnect', atMs).then((outcome) => this.emit({ type: 'reconnected', outcome }));
  }

  private closeAll(): void {
    this.stopTicker();
    if (this.phase?.timer) clearTimeout(this.phase.timer);
    for (const client of this.clients) client.conn.close();
    // Give the closing handshakes a moment before the process goes.
    setTimeout(() => this.emit({ type: 'closed' }), 200);
  }

  // --- events from connections ---------------------------------------------------------

  private onMessage(client: Client, conv: string, seq: number, intendedUs: number, arrivalUs: number): void {
    let log = client.logs.get(conv);
    if (!log) {
      log = new ConversationLog();
      client.logs.set(conv, log);
    }
    if (log.offer(seq) === 'duplicate') return;
    client.mixed?.seen.add(seq);
    this.recordDelivery(intendedUs, arrivalUs);
  }

  /** mixed: a `change` frame at one receiver: counted once per changeSeq, timed once its change is known. */
  private onChange(client: Client, conv: string, changeSeq: number, arrivalUs: number): void {
    let log = client.changeLogs.get(conv);
    if (!log) {
      log = new ConversationLog();
      client.changeLogs.set(conv, log);
    }
    if (log.offer(changeSeq) === 'duplicate') return;
    if (this.phase) this.phase.counters.changesDelivered++;
    this.changeTimer.arrived(conv, changeSeq, client.spec.user, arrivalUs);
  }

  private onChangeAck(
    client: Client,
    ref: string,
    conv: string,
    _seq: number,
    changeSeq: number | undefined,
  ): void {
    const pending = client.pendingChanges.get(ref);
    if (!pending) return;
    client.pendingChanges.delete(ref);
    client.mixed?.end(pending.key);
    const phase = this.phase;
    if (changeSeq === undefined) {
      if (phase) phase.noops++;
      return;
    }
    const change: AckedChange = { conv, changeSeq, intendedUs: pending.intendedUs, actor: client.spec.user };
    this.changeTimer.learn(change);
    if (!phase) return;
    phase.counters.changesAcked++;
    phase.newChanges.push(change);
    let set = phase.changeAcked.get(conv);
    if (!set) {
      set = new IntervalSet();
      phase.changeAcked.set(conv, set);
    }
    set.add(changeSeq);
  }

  /** One histogram record per delivery: the hot path of the generator. */
  private recordDelivery(intendedUs: number, arrivalUs: number): void {
    const latencyUs = arrivalUs - intendedUs;
    const phase = this.phase;
    if (phase) {
      phase.counters.delivered++;
      if (intendedUs >= phase.measureFromUs && intendedUs < phase.measureToUs) {
        phase.counters.deliveredMeasured++;
        this.intervalMeasured.record(latencyUs);
        return;
      }
    }
    this.intervalOther.record(latencyUs);
  }

  private onAck(client: Client, clientMsgId: string, conv: string, seq: number): void {
    if (!client.pending.delete(clientMsgId)) return;
    client.mixed?.own.add(seq);
    const phase = this.phase;
    if (!phase) return;
    phase.counters.acked++;
    let set = phase.acked.get(conv);
    if (!set) {
      set = new IntervalSet();
      phase.acked.set(conv, set);
    }
    set.add(seq);
  }

  private onError(client: Client, code: string, ref: string | undefined): void {
    let name = code;
    if (ref !== undefined) {
      client.pending.delete(ref);
      const change = client.pendingChanges.get(ref);
      if (change) {
        client.pendingChanges.delete(ref);
        client.mixed?.end(change.key);
        name = `change_${code}`;
      }
    }
    const errors = this.phase?.errors ?? this.connectErrors;
    errors[name] = (errors[name] ?? 0) + 1;
  }

  private onClose(client: Client, code: number, _reason: string, byClient: boolean): void {
    if (byClient) return;
    if (this.phase) this.phase.closes[String(code)] = (this.phase.closes[String(code)] ?? 0) + 1;
    this.reconnectLater(client);
  }

  /** A connection the server closed comes back like an SDK client: reconnect, then resume. */
  private reconnectLater(client: Client): void {
    if (client.reconnecting || !this.plan) return;
    client.reconnecting = true;
    const plan = this.plan;
    setTimeout(
      () => {
        this.openClient(client, plan, true).then(
          () => {
            client.reconnecting = false;
          },
          (err: unknown) => {
            client.reconnecting = false;
            this.onError(client, `reconnect_${String(err)}`, undefined);
            this.reconnectLater(client);
          },
        );
      },
      250 + Math.random() * 750,
    );
  }

  // --- phases --------------------------------------------------------------------------

  private startPhase(spec: PhaseSpec): void {
    for (const client of this.clients) {
      for (const conv of client.logs.keys()) client.logs.set(conv, new ConversationLog());
      for (const conv of client.changeLogs.keys()) client.changeLogs.set(conv, new ConversationLog());
    }
    this.changeTimer.reset();
    const senders = this.clients.filter((c) => c.spec.sender !== undefined);
    this.phase = {
      spec,
      measureFromUs: Math.round(spec.measureFromMs * 1000),
      measureToUs: Math.round(spec.measureToMs * 1000),
      senders,
      cursor:
        spec.schedule && senders.length > 0
          ? new SendCursor(
              spec.schedule,
              senders.map((c) => c.spec.sender!.index),
            )
          : undefined,
      counters: {
        sent: 0,
        acked: 0,
        delivered: 0,
        deliveredMeasured: 0,
        open: 0,
        sentMeasured: 0,
        changesSent: 0,
        changesAcked: 0,
        changesDelivered: 0,
      },
      histogram: new LatencyHistogram(),
      acked: new Map(),
      errors: {},
      closes: {},
      timer: undefined,
      changeAcked: new Map(),
      changeHistogram: new LatencyHistogram(),
      newChanges: [],
      edits: 0,
      reactions: 0,
      noops: 0,
    };
    this.intervalMeasured.reset();
    this.intervalOther.reset();
    this.startTicker();
    this.pump();
  }

  /** Sends everything due, then sleeps until the next message is due. */
  private pump(): void {
    const phase = this.phase;
    if (!phase?.cursor) return;
    phase.timer = undefined;
    const now = nowMs();
    const plan = this.plan!;
    const due = phase.cursor.takeDue(now, MAX_SENDS_PER_TURN);
    const mix = plan.mix;
    for (const d of due) {
      const client = phase.senders[d.local]!;
      const sender = client.spec.sender!;
      if (mix && client.mixed && client.conn.isOpen) {
        const kind = pickOperation(unitHash(sender.index, d.n, phase.spec.id), mix);
        const change =
          kind === 'send'
            ? undefined
            : client.mixed.plan(
                kind,
                unitHash(sender.index, d.n, 1000 + phase.spec.id),
                unitHash(sender.index, d.n, 2000 + phase.spec.id),
              );
        if (change) {
          this.transmitChange(client, change, d.intendedMs, d.n);
          continue;
        }
      }
      const intendedUs = Math.round(d.intendedMs * 1000);
      if (intendedUs >= phase.measureFromUs && intendedUs < phase.measureToUs) phase.counters.sentMeasured++;
      this.transmit(client, {
        clientMsgId: `${plan.runId}-${phase.spec.id}-${sender.index}-${d.n}`,
        conv: sender.conv,
        body: makeBody(d.intendedMs, sender.index, d.n, plan.messageSize),
      });
    }
    if (due.length === MAX_SENDS_PER_TURN) {
      phase.timer = setTimeout(() => this.pump(), 0);
      return;
    }
    const next = phase.cursor.nextDueMs();
    if (next !== undefined) phase.timer = setTimeout(() => this.pump(), Math.max(0, next - nowMs()));
  }

  /** mixed: an edit (its new body carries the intended time, like a message) or a reaction toggle. */
  private transmitChange(client: Client, change: PlannedChange, intendedMs: number, n: number): void {
    const phase = this.phase!;
    const plan = this.plan!;
    const sender = client.spec.sender!;
    const ref = `${plan.runId}-${phase.spec.id}-${sender.index}-${n}c`;
    const key = client.mixed!.begin(change);
    client.pendingChanges.set(ref, { conv: sender.conv, intendedUs: Math.round(intendedMs * 1000), key });
    if (change.kind === 'edit') {
      phase.edits++;
      client.conn.edit?.(
        sender.conv,
        change.seq,
        makeBody(intendedMs, sender.index, n, plan.messageSize),
        ref,
      );
    } else {
      phase.reactions++;
      client.conn.react?.(sender.conv, change.seq, change.emoji, change.on, ref);
    }
    phase.counters.changesSent++;
  }

  private transmit(client: Client, out: Outgoing): void {
    if (!client.conn.isOpen) {
      client.queued.push(out);
      return;
    }
    client.pending.set(out.clientMsgId, out);
    client.conn.send(out.conv, out.clientMsgId, out.body);
    if (this.phase) this.phase.counters.sent++;
  }

  private finishPhase(phaseId: number): void {
    const phase = this.phase;
    if (!phase || phase.spec.id !== phaseId) return;
    if (phase.timer) clearTimeout(phase.timer);
    this.stopTicker();
    this.tick();
    let unacked = 0;
    for (const client of this.clients) unacked += client.pending.size + client.queued.length;
    const receivers = [];
    const changeReceivers = [];
    let changesUnacked = 0;
    for (const client of this.clients) {
      for (const [conv, log] of client.logs) receivers.push(log.report(conv));
      if (this.plan?.mix) for (const [conv, log] of client.changeLogs) changeReceivers.push(log.report(conv));
      changesUnacked += client.pendingChanges.size;
    }
    this.emit({
      type: 'phase-result',
      result: {
        phaseId,
        counters: { ...phase.counters, open: this.openCount() },
        unacked,
        acked: Object.fromEntries([...phase.acked].map(([conv, set]) => [conv, set.toJSON()])),
        receivers,
        histogram: phase.histogram.encode(),
        errors: phase.errors,
        closes: phase.closes,
        ...(this.plan?.mix
          ? {
              changes: {
                edits: phase.edits,
                reactions: phase.reactions,
                noops: phase.noops,
                unacked: changesUnacked,
                acked: Object.fromEntries([...phase.changeAcked].map(([conv, set]) => [conv, set.toJSON()])),
                receivers: changeReceivers,
                histogram: phase.changeHistogram.encode(),
                unmatched: this.changeTimer.unmatched,
              },
            }
          : {}),
      },
    });
    this.phase = undefined;
  }

  private startTicker(): void {
    this.stopTicker();
    this.ticker = setInterval(() => this.tick(), TICK_MS);
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private tick(): void {
    const phase = this.phase;
    if (!phase) return;
    // Measured latencies join the phase's histogram; the timeline gets all of them.
    phase.histogram.add(this.intervalMeasured);
    this.intervalOther.add(this.intervalMeasured);
    this.emit({
      type: 'tick',
      phaseId: phase.spec.id,
      atMs: nowMs(),
      counters: { ...phase.counters, open: this.openCount() },
      interval: this.intervalOther.encode(),
      ...(phase.newChanges.length > 0 ? { changes: phase.newChanges } : {}),
    });
    phase.newChanges = [];
    this.intervalMeasured.reset();
    this.intervalOther.reset();
  }

  private openCount(): number {
    let n = 0;
    for (const client of this.clients) if (client.conn.isOpen) n++;
    return n;
  }
}

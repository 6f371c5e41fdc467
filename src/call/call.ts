/**
 * One phone call: the only object that knows both the caller's Twilio media stream and
 * the model's Realtime connection.
 *
 * It relays audio both ways (frame-aligned; a mark every 100 ms of audio and at its end),
 * handles barge-in (clear first, then truncate to what was heard, then drop late audio), runs the
 * model's tools one response at a time, keeps the caller from dead air (greeting, slow
 * tool filler, idle check-in, apology when the model is gone), carries out transfer and
 * hang-up after the goodbye has played, and saves the call record at the end.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { RealtimeConnection } from "../realtime/connection.ts";
import type { ServerEvent } from "../realtime/protocol.ts";
import { spokenText } from "../realtime/conversation_log.ts";
import type { TwilioStream } from "../twilio/media_stream.ts";
import type { BookingStore } from "../booking/types.ts";
import type { CallRecord, ToolCallRecord, TranscriptEntry } from "./record.ts";
import type { Metrics } from "../metrics.ts";
import { callerNumber } from "../phone.ts";
import { outcomeToOutput, type ToolOutcome, type ToolRegistry } from "../agent/tools.ts";
import type { AudioPath } from "./audio_path.ts";
import { FrameAligner } from "./frame_aligner.ts";
import { MULAW_FRAME_BYTES } from "../codec/mulaw.ts";
import { MARK_INTERVAL_MS, Playout } from "./playout.ts";
import type { LiveCallView } from "../console/live.ts";

/** REST call control the call can use (absent when `TWILIO_ACCOUNT_SID` is not set). */
export interface CallControl {
  transfer(callSid: string, number: string): Promise<unknown>;
  hangUp(callSid: string): Promise<unknown>;
}

/** Time limits of a call, ms. */
export interface CallLimits {
  idleCheckinMs: number;
  idleHangupMs: number;
  maxCallMs: number;
  /** The model must be ready this long after the stream starts, or the apology plays. */
  modelReadyMs: number;
  /** A tool slower than this gets a spoken filler. */
  slowToolMs: number;
  /** Agent audio between Twilio marks (ms); default {@linkcode MARK_INTERVAL_MS}, 0: every chunk. */
  markIntervalMs?: number;
}

/** Everything a call needs; built per call by the call manager. */
export interface CallOptions {
  callSid: string;
  from: string;
  to: string;
  stream: TwilioStream;
  connection: RealtimeConnection;
  audio: AudioPath;
  tools: ToolRegistry;
  store: BookingStore;
  greeting: string;
  limits: CallLimits;
  /**
   * Clock time (see `clock`) by which the model must be ready, counted from the stream's
   * start; default: `limits.modelReadyMs` after {@linkcode Call.start}.
   */
  modelReadyBy?: number;
  /** mu-law 8 kHz apology played when the model cannot be reached. */
  apology: Uint8Array;
  transferNumber?: string;
  control?: CallControl;
  metrics?: Metrics;
  log: Logger;
  /** Monotonic clock in ms. */
  clock?: () => number;
}

type EndRequest = { kind: "hangup" | "transfer"; reason: string };

interface PendingToolCall {
  callId: string;
  name: string;
  arguments: string;
  responseId: string;
}

/** How a call ended, in the record and in metrics. */
export type EndReason =
  | "caller_hung_up"
  | "agent_hung_up"
  | "transferred"
  | "model_unavailable"
  | "shutdown"
  | "error";

/** One phone call. Create with the started stream, then {@linkcode Call.start}. */
export class Call {
  readonly #o: CallOptions;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly #playout: Playout;
  readonly #aligner = new FrameAligner();
  readonly #startedAt = new Date();

  #audioItemId: string | undefined;
  #activeResponseId: string | undefined;
  /** Responses whose audio must not reach the caller: interrupted, or already done. */
  readonly #silencedResponses = new Set<string>();
  #pendingTools: PendingToolCall[] = [];
  #toolChain: Promise<void> = Promise.resolve();
  #initialSave: Promise<unknown> = Promise.resolve();
  #endRequest: EndRequest | undefined;
  #ending = false;
  #finished = false;
  #fallback = false;
  #endReason: EndReason | undefined;
  readonly #done: Promise<CallRecord>;
  #resolveDone!: (r: CallRecord) => void;

  // Timing and record keeping.
  #speechStoppedAt: number | undefined;
  readonly #turnMs: number[] = [];
  readonly #bargeIns: { at: string; heardMs?: number; reactionMs: number }[] = [];
  readonly #toolCalls: ToolCallRecord[] = [];
  readonly #itemTimes = new Map<string, string>();
  readonly #systemNotes: TranscriptEntry[] = [];
  readonly #bookings = { confirmed: 0, cancelled: 0, rescheduled: 0 };
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the silence clock runs out, and when the armed idle timer fires (clock ms). */
  #idleDeadline = 0;
  #idleTimerAt = 0;
  #idleStage: "none" | "checked_in" = "none";
  #callerSpeaking = false;
  #dtmfDigits: string[] = [];
  #dtmfTimer: ReturnType<typeof setTimeout> | undefined;
  #framesToModel = 0;
  #framesToCaller = 0;
  #droppedLateDeltas = 0;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #annotations: Record<string, unknown> = {};
  readonly #sms: Record<string, string | undefined>[] = [];

  constructor(options: CallOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#clock = options.clock ?? (() => performance.now());
    this.#playout = new Playout(this.#clock, options.limits.markIntervalMs ?? MARK_INTERVAL_MS);
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Resolves with the saved call record once the call is over. */
  get done(): Promise<CallRecord> {
    return this.#done;
  }

  /** The call's SID. */
  get callSid(): string {
    return this.#o.callSid;
  }

  /** Starts relaying; connects the model if it is not already connected (pre-warm). */
  async start(): Promise<void> {
    const { stream, connection } = this.#o;
    this.#o.metrics?.activeCalls.inc();
    stream.onMedia = (mulaw) => this.#onCallerAudio(mulaw);
    stream.onMark = (name) => this.#playout.markEchoed(name);
    stream.onDtmf = (digit) => this.#onDtmf(digit);
    stream.onStop = () => this.#onStreamEnded("stop");
    stream.onClose = () => this.#onStreamEnded("close");
    this.#unsubscribe.push(
      connection.onEvent((e) => this.#onModelEvent(e)),
      connection.onStateChange((state) => {
        if (state === "closed" && !this.#finished && !this.#ending) this.#modelGone();
      }),
      connection.onSession((info) => {
        if (info.reason === "reconnect") this.#o.metrics?.modelReconnects.inc();
      }),
    );
    this.#after(this.#o.limits.maxCallMs, () => this.#wrapUp("max_duration"));
    // Not awaited: the greeting must not wait for the database.
    this.#initialSave = this.#saveRecord("in_progress");
    if (connection.state === "open") {
      this.#greet();
      return;
    }
    if (connection.state === "closed") {
      this.#modelGone();
      return;
    }
    const readyBy = this.#o.modelReadyBy ?? this.#clock() + this.#o.limits.modelReadyMs;
    const readyTimer = this.#after(Math.max(0, readyBy - this.#clock()), () => {
      if (connection.state !== "open") {
        this.#log.error("model not ready in time; playing the apology");
        connection.close("model not ready in time");
      }
    });
    try {
      if (connection.state === "idle") await connection.connect();
      else await waitForOpen(connection);
      this.#clearTimer(readyTimer);
      if (!this.#finished) this.#greet();
    } catch (error) {
      this.#clearTimer(readyTimer);
      this.#log.error("model connection failed: {message}", {
        message: (error as Error).message,
      });
      this.#modelGone();
    }
  }

  /**
   * Ends the call politely from outside (server shutdown): the agent says goodbye,
   * then the call hangs up once it has played.
   */
  wrapUp(): void {
    this.#wrapUp("shutdown");
  }

  // ---------------------------------------------------------------- caller -> model

  #onCallerAudio(mulaw: Uint8Array): void {
    if (this.#fallback) return;
    this.#o.connection.appendAudio(this.#o.audio.toModel(mulaw));
    this.#framesToModel++;
  }

  #onDtmf(digit: string): void {
    this.#dtmfDigits.push(digit);
    this.#touchIdle();
    // Collect a quick sequence of key presses into one note.
    if (this.#dtmfTimer !== undefined) this.#clearTimer(this.#dtmfTimer);
    this.#dtmfTimer = this.#after(700, () => {
      const digits = this.#dtmfDigits.join(" ");
      this.#dtmfDigits = [];
      this.#dtmfTimer = undefined;
      this.#note(`caller pressed ${digits}`);
      this.#o.connection.sendUserText(`(caller pressed ${digits})`);
      this.#o.connection.createResponse();
    });
  }

  // ---------------------------------------------------------------- model -> caller

  #onModelEvent(e: ServerEvent): void {
    if (this.#finished) return;
    switch (e.type) {
      case "response.output_audio.delta":
        this.#onAudioDelta(e.response_id, e.item_id, e.delta);
        return;
      case "input_audio_buffer.speech_started":
        this.#callerSpeaking = true;
        this.#bargeIn();
        this.#touchIdle();
        return;
      case "input_audio_buffer.speech_stopped":
        this.#callerSpeaking = false;
        this.#speechStoppedAt = this.#clock();
        this.#touchIdle();
        return;
      case "conversation.item.added":
        if (!this.#itemTimes.has(e.item.id ?? "")) {
          this.#itemTimes.set(e.item.id ?? "", new Date().toISOString());
        }
        return;
      case "response.created":
        this.#activeResponseId = e.response.id;
        return;
      case "response.output_audio.done":
        if (e.item_id === this.#audioItemId) this.#flushAudio();
        return;
      case "response.function_call_arguments.done":
        this.#pendingTools.push({
          callId: e.call_id,
          name: e.name,
          arguments: e.arguments,
          responseId: e.response_id,
        });
        return;
      case "response.done":
        this.#onResponseDone(e.response.id ?? "", e.response.status ?? "completed");
        return;
      case "error":
        this.#o.metrics?.protocolErrors.inc({
          side: "model",
          reason: e.error.code ?? e.error.type,
        });
        return;
      default:
        return;
    }
  }

  #onAudioDelta(responseId: string, itemId: string, delta: string): void {
    if (this.#silencedResponses.has(responseId) || this.#fallback) {
      this.#droppedLateDeltas++; // interrupted or finished, or the apology is playing
      return;
    }
    if (itemId !== this.#audioItemId) {
      this.#flushAudio();
      this.#audioItemId = itemId;
    }
    let mulaw: Uint8Array;
    try {
      mulaw = this.#o.audio.toCaller(delta);
    } catch (error) {
      this.#log.warn("undecodable audio delta dropped: {message}", {
        message: (error as Error).message,
      });
      this.#o.metrics?.protocolErrors.inc({ side: "model", reason: "invalid_audio" });
      return;
    }
    this.#aligner.append(mulaw);
    this.#sendToCaller(itemId, this.#aligner.takeAligned());
  }

  /** Sends what the aligner holds and marks the end of the audio sent so far. */
  #flushAudio(): void {
    if (this.#audioItemId !== undefined) {
      this.#sendToCaller(this.#audioItemId, this.#aligner.flush());
    }
    this.#markTail();
  }

  #markTail(): void {
    const mark = this.#playout.markTail();
    if (mark !== undefined) this.#o.stream.mark(mark);
  }

  #sendToCaller(itemId: string, mulaw: Uint8Array): void {
    if (mulaw.length === 0) return;
    if (!this.#o.stream.sendAudio(mulaw)) return;
    const mark = this.#playout.chunkSent(itemId, mulaw.length);
    if (mark !== undefined) this.#o.stream.mark(mark);
    this.#framesToCaller += mulaw.length / MULAW_FRAME_BYTES;
    if (this.#speechStoppedAt !== undefined) {
      const ms = this.#clock() - this.#speechStoppedAt;
      this.#speechStoppedAt = undefined;
      this.#turnMs.push(Math.round(ms));
      this.#o.metrics?.turnLatency.observe(ms / 1000);
    }
    this.#touchIdle(false);
  }

  // ---------------------------------------------------------------- barge-in

  #bargeIn(): void {
    const t0 = this.#clock();
    // Whatever the interrupted response still sends is stale: the server cancels it.
    if (this.#activeResponseId !== undefined) {
      this.#silence(this.#activeResponseId);
    }
    this.#aligner.reset();
    this.#o.audio.resetOutbound();
    if (!this.#playout.hasUnplayed() || this.#endRequest) return;
    this.#o.stream.clear(); // first, before anything else: stop the sound now
    const reactionMs = this.#clock() - t0;
    const truncations = this.#playout.interrupt();
    for (const t of truncations) this.#o.connection.truncate(t.itemId, t.audioEndMs);
    this.#bargeIns.push({
      at: new Date().toISOString(),
      heardMs: truncations.at(-1)?.audioEndMs,
      reactionMs,
    });
    this.#o.metrics?.bargeIns.inc();
    this.#o.metrics?.bargeInReaction.observe(reactionMs / 1000);
  }

  /** Marks a response as silenced; only the newest few are kept (ids never recur). */
  #silence(responseId: string): void {
    this.#silencedResponses.add(responseId);
    if (this.#silencedResponses.size > 32) {
      this.#silencedResponses.delete(this.#silencedResponses.values().next().value!);
    }
  }

  // ---------------------------------------------------------------- tools

  #onResponseDone(responseId: string, status: string): void {
    if (responseId === this.#activeResponseId) this.#activeResponseId = undefined;
    this.#silence(responseId); // nothing after response.done is played either
    this.#flushAudio();
    const calls = this.#pendingTools.filter((c) => c.responseId === responseId);
    if (calls.length > 0) {
      this.#pendingTools = this.#pendingTools.filter((c) => c.responseId !== responseId);
      // Tools run one response at a time, in order; their results go back together.
      this.#toolChain = this.#toolChain.then(() => this.#runTools(calls, status === "completed"));
      return;
    }
    if (this.#endRequest && !this.#o.connection.responseActive) void this.#carryOutEnd();
  }

  async #runTools(calls: PendingToolCall[], completed: boolean): Promise<void> {
    if (this.#finished) return;
    const connection = this.#o.connection;
    if (!completed) {
      // The response was cancelled (the caller spoke): do not act on it.
      for (const call of calls) {
        connection.sendFunctionOutput(
          call.callId,
          JSON.stringify({ status: "not_run", reason: "the caller interrupted" }),
        );
      }
      return;
    }
    const filler = this.#after(this.#o.limits.slowToolMs, () => {
      // Never dead air: the model says a few words while the tool works.
      connection.createResponse({
        instructions: "Say only a very short filler such as 'One moment while I check.'",
        tool_choice: "none",
      });
    });
    try {
      for (const call of calls) {
        const startedAt = new Date().toISOString();
        let args: unknown = call.arguments;
        try {
          args = JSON.parse(call.arguments);
        } catch { /* recorded as the raw string */ }
        const outcome = await this.#o.tools.invoke(call.name, call.arguments, {
          callSid: this.#o.callSid,
          callerNumber: callerNumber(this.#o.from),
        });
        this.#recordTool(call, args, outcome, startedAt);
        if (this.#finished) return;
        connection.sendFunctionOutput(call.callId, outcomeToOutput(outcome));
      }
    } finally {
      this.#clearTimer(filler);
    }
    if (this.#endRequest) {
      if (!connection.responseActive) await this.#carryOutEnd();
      return;
    }
    connection.createResponse();
  }

  #recordTool(call: PendingToolCall, args: unknown, outcome: ToolOutcome, startedAt: string) {
    const result = outcome.ok ? "ok" : outcome.error.code;
    this.#o.metrics?.toolCalls.inc({ tool: call.name, result });
    this.#toolCalls.push({
      name: call.name,
      callId: call.callId,
      arguments: args,
      result: outcome.ok ? outcome.output : undefined,
      error: outcome.ok ? undefined : `${outcome.error.code}: ${outcome.error.message}`,
      startedAt,
      durationMs: outcome.durationMs,
    });
    if (!outcome.ok) {
      this.#log.warn("tool {tool} returned an error: {code}", {
        tool: call.name,
        code: outcome.error.code,
        message: outcome.error.message,
      });
      return;
    }
    const status = (outcome.output as { status?: string } | null)?.status;
    if (call.name === "book_slot") {
      this.#o.metrics?.bookings.inc({ result: status ?? "unknown" });
      if (status === "confirmed") this.#bookings.confirmed++;
    } else if (call.name === "cancel_booking" && status === "cancelled") {
      this.#bookings.cancelled++;
    } else if (call.name === "reschedule_booking" && status === "rescheduled") {
      this.#bookings.rescheduled++;
    }
  }

  /**
   * A snapshot for the operator console's live page (provisional: read from what the call
   * already keeps; the console depends only on `LiveCallView`).
   */
  liveView(): LiveCallView {
    let state: LiveCallView["state"] = "listening";
    if (this.#callerSpeaking) state = "caller_speaking";
    else if (this.#playout.hasUnplayed()) state = "agent_speaking";
    else if (this.#toolRunning()) state = "running_tool";
    return {
      callSid: this.#o.callSid,
      from: this.#o.from,
      to: this.#o.to,
      startedAt: this.#startedAt.toISOString(),
      state,
      transcript: this.#transcript(),
    };
  }

  /** A function call of the model has no output yet: a tool is running (or about to). */
  #toolRunning(): boolean {
    const answered = new Set<string>();
    let open = false;
    const entries = this.#o.connection.conversation.entries;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e.kind === "function_output") answered.add(e.callId);
      else if (e.kind === "function_call" && !answered.has(e.callId)) open = true;
    }
    return open;
  }

  /** Records an SMS sent (or tried) for this call; saved in the record as `extra.sms`. */
  recordSms(sms: { to: string; bookingId?: string; sid?: string; error?: string }): void {
    this.#sms.push({ ...sms, at: new Date().toISOString() });
  }

  /** Adds what Twilio reported about the call (status callbacks) to the call record. */
  annotate(key: string, value: unknown): void {
    this.#annotations[key] = value;
  }

  /** Called by the call-control tools. */
  requestHangUp(reason: string): void {
    this.#endRequest ??= { kind: "hangup", reason };
  }

  /** Called by the call-control tools (only offered when a transfer is possible). */
  requestTransfer(reason: string): void {
    this.#endRequest ??= { kind: "transfer", reason };
  }

  // ---------------------------------------------------------------- ending

  /** Transfer or hang up once everything said has been heard. */
  async #carryOutEnd(): Promise<void> {
    const request = this.#endRequest;
    if (!request || this.#ending || this.#finished) return;
    this.#ending = true;
    this.#flushAudio();
    await this.#playout.whenDrained();
    if (this.#finished) return;
    const { control, transferNumber, callSid } = this.#o;
    if (request.kind === "transfer" && control && transferNumber) {
      this.#endReason = "transferred";
      this.#log.info("transferring call: {reason}", { reason: request.reason });
      try {
        await control.transfer(callSid, transferNumber);
        return; // Twilio now sends `stop`; that is not a hang-up.
      } catch (error) {
        this.#log.error("transfer failed: {message}", { message: (error as Error).message });
        this.#endReason = "error";
      }
    }
    this.#endReason ??= "agent_hung_up";
    await this.#hangUp(request.reason);
  }

  async #hangUp(reason: string): Promise<void> {
    this.#log.info("hanging up: {reason}", { reason });
    const control = this.#o.control;
    if (control) {
      try {
        await control.hangUp(this.#o.callSid);
        return;
      } catch (error) {
        this.#log.error("REST hang-up failed, closing the stream: {message}", {
          message: (error as Error).message,
        });
      }
    }
    // Without REST: closing the socket runs the <Hangup/> after </Connect>.
    this.#o.stream.close(1000, "call ended");
    this.#finish();
  }

  #wrapUp(why: "max_duration" | "idle" | "shutdown"): void {
    if (this.#finished || this.#endRequest) return;
    if (why === "shutdown") this.#endReason = "shutdown";
    const connection = this.#o.connection;
    if (this.#fallback || connection.state !== "open") {
      this.requestHangUp(why);
      void this.#carryOutEnd();
      return;
    }
    const say = {
      max_duration: "We have reached the time limit for this call.",
      idle: "It seems the caller is no longer there.",
      shutdown: "The line has to close now for maintenance.",
    }[why];
    this.#note(`wrap-up: ${why}`);
    this.requestHangUp(why);
    connection.sendSystemText(`${say} Say a short, polite goodbye now. Do not call any tool.`);
    if (connection.createResponse({ tool_choice: "none" }) === "dropped") void this.#carryOutEnd();
  }

  /** The model is gone for good: apologise with prepared audio, then transfer or hang up. */
  #modelGone(): void {
    if (this.#fallback || this.#finished) return;
    this.#fallback = true;
    this.#endReason = "model_unavailable";
    this.#log.error("model session unavailable; playing apology", {
      closeReason: this.#o.connection.closeReason,
    });
    this.#note("model unavailable: apology played");
    if (this.#playout.hasUnplayed()) {
      this.#o.stream.clear();
      this.#playout.interrupt();
    }
    this.#aligner.reset();
    this.#audioItemId = undefined;
    this.#aligner.append(this.#o.apology);
    this.#sendToCaller("apology", this.#aligner.flush());
    this.#markTail();
    const canTransfer = Boolean(this.#o.control && this.#o.transferNumber);
    this.#endRequest = {
      kind: canTransfer ? "transfer" : "hangup",
      reason: "model unavailable",
    };
    void this.#carryOutEnd().then(() => {
      if (this.#endReason === "transferred") return;
      this.#endReason = "model_unavailable";
    });
  }

  #onStreamEnded(how: "stop" | "close"): void {
    if (this.#finished) return;
    this.#log.info("media stream ended ({how})", { how });
    if (this.#endReason === undefined) this.#endReason = "caller_hung_up";
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#o.connection.close("call ended");
    this.#o.stream.close(1000, "call ended");
    this.#o.metrics?.activeCalls.dec();
    this.#o.metrics?.framesRelayed.inc({ direction: "to_model" }, this.#framesToModel);
    this.#o.metrics?.framesRelayed.inc({ direction: "to_caller" }, this.#framesToCaller);
    const outcome = this.#outcome();
    this.#o.metrics?.callsTotal.inc({ outcome });
    // Tool calls in flight finish first so their results are in the record, and the
    // final record is written after the first one.
    void Promise.all([this.#initialSave, this.#toolChain]).then(() => this.#saveRecord(outcome))
      .then(
        (record) => this.#resolveDone(record),
      );
  }

  #outcome(): string {
    const reason = this.#endReason ?? "caller_hung_up";
    if (reason === "transferred" || reason === "model_unavailable" || reason === "error") {
      return reason;
    }
    if (this.#bookings.confirmed > 0) return "booked";
    if (this.#bookings.rescheduled > 0) return "rescheduled";
    if (this.#bookings.cancelled > 0) return "cancelled";
    return reason;
  }

  async #saveRecord(outcome: string): Promise<CallRecord> {
    const turnMs = this.#turnMs;
    const sorted = [...turnMs].sort((a, b) => a - b);
    const pct = (p: number) =>
      sorted.length
        ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
        : undefined;
    const record: CallRecord = {
      callSid: this.#o.callSid,
      from: this.#o.from,
      to: this.#o.to,
      startedAt: this.#startedAt.toISOString(),
      endedAt: this.#finished ? new Date().toISOString() : undefined,
      outcome,
      transcript: this.#transcript(),
      toolCalls: this.#toolCalls,
      latency: {
        turnMs,
        p50Ms: pct(0.5),
        p95Ms: pct(0.95),
        bargeInReactionMs: this.#bargeIns.map((b) => b.reactionMs),
      },
      bargeIns: this.#bargeIns.map(({ at, heardMs }) => ({ at, heardMs })),
      extra: {
        ...this.#annotations,
        ...(this.#sms.length ? { sms: this.#sms } : {}),
        endReason: this.#endReason,
        framesToModel: this.#framesToModel,
        framesToCaller: this.#framesToCaller,
        droppedLateDeltas: this.#droppedLateDeltas,
        modelStats: { ...this.#o.connection.stats },
        streamCounters: this.#o.stream.counters,
      },
    };
    try {
      await this.#o.store.saveCall(record);
    } catch (error) {
      this.#log.error("saving the call record failed: {message}", {
        message: (error as Error).message,
      });
    }
    return record;
  }

  #transcript(): TranscriptEntry[] {
    const out: TranscriptEntry[] = [];
    const fallbackAt = new Date().toISOString();
    for (const e of this.#o.connection.conversation.entries) {
      if (e.kind === "user" && e.text) {
        out.push({
          role: "caller",
          text: e.text,
          at: this.#itemTimes.get(e.itemId ?? "") ?? fallbackAt,
        });
      } else if (e.kind === "assistant" && e.text) {
        const interrupted = e.heardMs !== undefined && e.heardMs < e.audioMs;
        out.push({
          role: "agent",
          text: spokenText(e),
          at: this.#itemTimes.get(e.itemId) ?? fallbackAt,
          ...(interrupted ? { interrupted: true } : {}),
        });
      }
    }
    return [...out, ...this.#systemNotes].sort((a, b) => a.at.localeCompare(b.at));
  }

  #note(text: string): void {
    this.#systemNotes.push({ role: "system", text, at: new Date().toISOString() });
  }

  // ---------------------------------------------------------------- greeting and idle

  #greet(): void {
    this.#o.connection.createResponse({
      instructions: `Greet the caller by saying exactly: "${this.#o.greeting}"`,
      tool_choice: "none",
    });
    this.#touchIdle();
  }

  /**
   * Restarts the silence clock. Caller activity starts over from "no check-in yet";
   * the agent's own audio only postpones the current stage (so a check-in does not
   * reset the road to the idle hang-up).
   */
  #touchIdle(byCaller = true): void {
    if (this.#finished || this.#fallback) return;
    if (byCaller) this.#idleStage = "none";
    const { idleCheckinMs, idleHangupMs } = this.#o.limits;
    const now = this.#clock();
    this.#idleDeadline = now +
      (this.#idleStage === "none" ? idleCheckinMs : idleHangupMs - idleCheckinMs);
    // Agent audio touches this every 20 ms: keep the armed timer when it fires no later
    // than the new deadline (it re-arms itself for the rest), instead of replacing a timer
    // per frame.
    if (this.#idleTimer !== undefined && this.#idleTimerAt <= this.#idleDeadline) return;
    if (this.#idleTimer !== undefined) this.#clearTimer(this.#idleTimer);
    this.#armIdle(now);
  }

  #armIdle(now: number): void {
    this.#idleTimerAt = this.#idleDeadline;
    this.#idleTimer = this.#after(this.#idleDeadline - now, () => {
      this.#idleTimer = undefined;
      const at = this.#clock();
      if (at < this.#idleDeadline) this.#armIdle(at);
      else this.#onIdle();
    });
  }

  #onIdle(): void {
    this.#idleTimer = undefined;
    const busy = this.#callerSpeaking || this.#o.connection.responseActive ||
      this.#playout.hasUnplayed() || this.#endRequest !== undefined;
    if (busy) {
      const now = this.#clock();
      this.#idleDeadline = now + 1000;
      this.#armIdle(now);
      return;
    }
    if (this.#idleStage === "checked_in") {
      this.#wrapUp("idle");
      return;
    }
    this.#idleStage = "checked_in";
    this.#note("caller silent: check-in");
    this.#o.connection.sendSystemText(
      "The caller has been silent for a while. Briefly ask if they are still there.",
    );
    this.#o.connection.createResponse({ tool_choice: "none" });
    this.#touchIdle(false);
  }

  // ---------------------------------------------------------------- timers

  #after(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const id = setTimeout(() => {
      this.#timers.delete(id);
      try {
        fn();
      } catch (error) {
        this.#log.error("call timer failed: {message}", { message: (error as Error).message });
      }
    }, ms);
    this.#timers.add(id);
    return id;
  }

  #clearTimer(id: ReturnType<typeof setTimeout>): void {
    clearTimeout(id);
    this.#timers.delete(id);
  }
}

/** Resolves when a connection that is already connecting becomes open. */
function waitForOpen(connection: RealtimeConnection): Promise<void> {
  return new Promise((resolve, reject) => {
    const off = connection.onStateChange((state) => {
      if (state === "open") {
        off();
        resolve();
      } else if (state === "closed") {
        off();
        reject(new Error(connection.closeReason?.message ?? "closed"));
      }
    });
  });
}

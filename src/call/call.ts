/**
 * One phone call: the only object that knows both the caller's media stream and the
 * model session (each seen through a narrow port, `ports.ts`).
 *
 * It relays audio both ways (frame-aligned; a mark every 100 ms of audio and at its end),
 * handles barge-in (clear first, then truncate to what was heard, then drop late audio),
 * runs the model's tools one response at a time, keeps the caller from dead air (greeting,
 * slow-tool filler, idle check-in, apology when the model is gone), carries out transfer
 * and hang-up after the goodbye has played, and saves the call record as it goes.
 *
 * Its lifecycle is one {@linkcode CallPhase}, changed only by `#setPhase`:
 * `starting` (waiting for the model) → `live` → `ending` (goodbye, drain, then transfer or
 * hang-up; the end reason is decided on entry) → `finished` (reason and outcome, final).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { type Clock, isoNow, TimerGroup, type TimerHandle } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { ServerEvent } from "../realtime/protocol.ts";
import type { Metrics } from "../metrics.ts";
import { callerNumber } from "../phone.ts";
import { outcomeToOutput, type ToolOutcome, type ToolRegistry } from "../agent/tools.ts";
import { MULAW_FRAME_BYTES } from "../codec/mulaw.ts";
import type { AudioPath } from "./audio_path.ts";
import { FrameAligner } from "./frame_aligner.ts";
import { IdlePolicy } from "./idle_policy.ts";
import { MARK_INTERVAL_MS, Playout } from "./playout.ts";
import type { CallControl, CallerStream, ModelSession } from "./ports.ts";
import type { CallOutcome, CallRecord } from "./record.ts";
import { CallRecorder, type ToolRun } from "./recorder.ts";

export type { CallControl };

/** Time limits of a call, ms. */
export interface CallLimits {
  idleCheckinMs: number;
  idleHangupMs: number;
  /** At this age the agent wraps the call up (says goodbye, then hangs up). */
  maxCallMs: number;
  /** The model must be ready this long after the stream starts, or the apology plays. */
  modelReadyMs: number;
  /** A tool slower than this gets a spoken filler. */
  slowToolMs: number;
  /** Agent audio between Twilio marks (ms); default {@linkcode MARK_INTERVAL_MS}, 0: every chunk. */
  markIntervalMs?: number;
  /**
   * Past `maxCallMs` + this, or this long into any ending, the call is ended without
   * waiting any longer (a goodbye that never comes, marks that are never echoed).
   * Default 20 000.
   */
  endingGraceMs?: number;
  /** After a REST hang-up or transfer, how long Twilio has to send `stop`. Default 5000. */
  stopGraceMs?: number;
}

/** Where the call record is saved. */
export interface CallRecordSink {
  saveCall(record: CallRecord): Promise<void>;
}

/** Everything a call needs; built per call by the call manager. */
export interface CallDeps {
  callSid: string;
  from: string;
  to: string;
  stream: CallerStream;
  session: ModelSession;
  audio: AudioPath;
  tools: ToolRegistry;
  records: CallRecordSink;
  greeting: string;
  limits: CallLimits;
  /**
   * Clock time by which the model must be ready, counted from the stream's start;
   * default: `limits.modelReadyMs` after {@linkcode Call.start}.
   */
  modelReadyBy?: number;
  /** mu-law 8 kHz apology played when the model cannot be reached. */
  apology: Uint8Array;
  transferNumber?: string;
  control?: CallControl;
  metrics?: Metrics;
  log: Logger;
  clock: Clock;
}

/** How a call ended, in the record and in metrics. */
export type EndReason =
  | "caller_hung_up"
  | "agent_hung_up"
  | "transferred"
  | "model_unavailable"
  | "shutdown"
  | "error";

/** What the ending carries out once the last words have played. */
export interface EndRequest {
  kind: "hangup" | "transfer";
  /** Why, in a few words (logged, noted). */
  why: string;
  /** The prepared apology is playing (the model is gone). */
  apology: boolean;
}

/** Where an ending stands. */
export type EndingStage = "goodbye" | "draining" | "executing" | "awaiting_stop";

/** The call's lifecycle. */
export type CallPhase =
  | { name: "starting" }
  | { name: "live" }
  | {
    name: "ending";
    request: EndRequest;
    /** The reason once the request is carried out (or the caller leaves after that). */
    reason: EndReason;
    /** The reason if the caller leaves before the request is carried out. */
    ifCallerLeaves: EndReason;
    stage: EndingStage;
  }
  | { name: "finished"; reason: EndReason; outcome: CallOutcome };

const DTMF_BATCH_MS = 700;
const DEFAULT_ENDING_GRACE_MS = 20_000;
const DEFAULT_STOP_GRACE_MS = 5_000;
/** Tools that change nothing may still answer after the call started ending. */
const CALL_CONTROL_TOOLS = new Set(["end_call", "transfer_call"]);

type Ending = Extract<CallPhase, { name: "ending" }>;

interface PendingToolCall extends ToolRun {
  responseId: string;
}

/** One phone call. Create with the started stream, then {@linkcode Call.start}. */
export class Call {
  readonly #deps: CallDeps;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timers: TimerGroup;
  readonly #playout: Playout;
  readonly #aligner = new FrameAligner();
  readonly #idle: IdlePolicy;
  readonly #recorder: CallRecorder;

  #phase: CallPhase = { name: "starting" };
  #audioItemId: string | undefined;
  #activeResponseId: string | undefined;
  /** Responses whose audio must not reach the caller: interrupted, or already done. */
  readonly #silencedResponses = new Set<string>();
  #pendingTools: PendingToolCall[] = [];
  #toolChain: Promise<void> = Promise.resolve();
  #toolsRunning = 0;
  #saves: Promise<unknown> = Promise.resolve();
  #callerSpeaking = false;
  #callerTurns = 0;
  #dtmfDigits: string[] = [];
  #dtmfTimer: TimerHandle | undefined;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #done: Promise<CallRecord>;
  #resolveDone!: (r: CallRecord) => void;

  constructor(deps: CallDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#timers = new TimerGroup(
      deps.clock,
      (error) => this.#log.error("call timer failed: {error}", { error: errorMessage(error) }),
    );
    this.#playout = new Playout(
      () => deps.clock.now(),
      deps.limits.markIntervalMs ?? MARK_INTERVAL_MS,
    );
    this.#recorder = new CallRecorder({
      callSid: deps.callSid,
      from: deps.from,
      to: deps.to,
      clock: deps.clock,
    });
    this.#idle = new IdlePolicy({
      clock: deps.clock,
      timers: this.#timers,
      checkInMs: deps.limits.idleCheckinMs,
      hangUpMs: deps.limits.idleHangupMs,
      isBusy: () =>
        this.#callerSpeaking || this.#deps.session.responseActive || this.#playout.hasUnplayed() ||
        this.#phase.name !== "live",
      onCheckIn: () => this.#checkIn(),
      onGiveUp: () => this.#wrapUp("idle"),
    });
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  /** Resolves with the saved call record once the call is over. */
  get done(): Promise<CallRecord> {
    return this.#done;
  }

  /** The call's SID. */
  get callSid(): string {
    return this.#deps.callSid;
  }

  /** The current phase (read-only snapshot). */
  get phase(): Readonly<CallPhase> {
    return this.#phase;
  }

  /**
   * Starts the call: becomes the stream's consumer (a stream that already ended finishes
   * the call at once), then greets once the model session is open, connecting it if it is
   * not (pre-warm), or plays the apology when it cannot be ready in time.
   */
  start(): void {
    const { stream, session, metrics } = this.#deps;
    metrics?.activeCalls.inc();
    this.#log.info("call started", { from: this.#deps.from, to: this.#deps.to });
    stream.attach({
      media: (mulaw) => this.#onCallerAudio(mulaw),
      mark: (name) => this.#playout.markEchoed(name),
      dtmf: (digit) => this.#onDtmf(digit),
      stop: () => this.#onStreamEnded("stop"),
      close: () => this.#onStreamEnded("close"),
    });
    if (this.#phase.name === "finished") return; // the caller was gone before we started
    this.#unsubscribe.push(
      session.on("event", (e) => this.#onModelEvent(e)),
      session.on("state", (state) => {
        if (state === "closed") this.#onModelClosed();
      }),
      session.on("session", (info) => {
        if (info.reason === "reconnect") metrics?.modelReconnects.inc();
      }),
    );
    this.#timers.after(this.#deps.limits.maxCallMs, () => this.#wrapUp("max_duration"));
    this.#save("in_progress"); // not awaited: the greeting must not wait for the database
    this.#waitForModel();
  }

  /**
   * Ends the call politely from outside (server shutdown): the agent says goodbye,
   * then the call hangs up once it has played.
   */
  wrapUp(): void {
    this.#wrapUp("shutdown");
  }

  /** Adds what Twilio reported about the call (status callbacks) to the call record. */
  annotate(key: string, value: unknown): void {
    this.#recorder.annotate(key, value);
  }

  /** Called by the call-control tools: hang up once the goodbye has played. */
  requestHangUp(why: string): void {
    this.#endWith({ kind: "hangup", why, apology: false }, "agent_hung_up");
  }

  /** Called by the call-control tools (only offered when a transfer is possible). */
  requestTransfer(why: string): void {
    this.#endWith({ kind: "transfer", why, apology: false }, "transferred");
  }

  // ---------------------------------------------------------------- phase

  /** Read through a method: a phase check made before an await says nothing after it. */
  #isOver(): boolean {
    return this.#phase.name === "finished";
  }

  #setPhase(next: CallPhase): void {
    const previous = this.#phase;
    this.#phase = next;
    if (previous.name !== next.name) {
      this.#log.debug("call phase {phase}", { phase: next.name, previous: previous.name });
    }
  }

  #waitForModel(): void {
    const { session } = this.#deps;
    if (session.state === "open") return this.#greet();
    if (session.state === "closed") return this.#modelGone();
    const readyBy = this.#deps.modelReadyBy ?? this.#clock.now() + this.#deps.limits.modelReadyMs;
    const readyTimer = this.#timers.after(readyBy - this.#clock.now(), () => {
      if (session.state !== "open") {
        this.#log.error("model not ready in time; playing the apology");
        session.close("model not ready in time"); // -> closed -> apology
      }
    });
    const offState = session.on("state", (state) => {
      if (state !== "open") return;
      offState();
      this.#timers.clear(readyTimer);
      this.#greet();
    });
    this.#unsubscribe.push(offState);
    if (session.state === "idle") {
      session.connect().catch((error) => {
        this.#log.error("model connection failed: {error}", { error: errorMessage(error) });
      });
    }
  }

  // ---------------------------------------------------------------- caller -> model

  #onCallerAudio(mulaw: Uint8Array): void {
    const phase = this.#phase;
    if (phase.name === "finished" || (phase.name === "ending" && phase.request.apology)) return;
    this.#deps.session.appendAudio(this.#deps.audio.toModel(mulaw));
    this.#recorder.framesToModel++;
  }

  #onDtmf(digit: string): void {
    if (this.#phase.name !== "live" && this.#phase.name !== "starting") return;
    this.#dtmfDigits.push(digit);
    this.#idle.touch(true);
    // Collect a quick sequence of key presses into one note and one message.
    this.#timers.clear(this.#dtmfTimer);
    this.#dtmfTimer = this.#timers.after(DTMF_BATCH_MS, () => {
      const digits = this.#dtmfDigits.join(" ");
      this.#dtmfDigits = [];
      this.#dtmfTimer = undefined;
      if (this.#phase.name !== "live") return;
      this.#log.info("caller pressed {digits}", { digits });
      this.#recorder.note(`caller pressed ${digits}`);
      this.#deps.session.sendUserText(`(caller pressed ${digits})`);
      this.#deps.session.createResponse();
    });
  }

  // ---------------------------------------------------------------- model -> caller

  #onModelEvent(e: ServerEvent): void {
    if (this.#phase.name === "finished") return;
    switch (e.type) {
      case "response.output_audio.delta":
        this.#onAudioDelta(e.response_id, e.item_id, e.delta);
        return;
      case "input_audio_buffer.speech_started":
        this.#callerSpeaking = true;
        this.#bargeIn();
        this.#idle.touch(true);
        return;
      case "input_audio_buffer.speech_stopped":
        this.#callerSpeaking = false;
        this.#callerTurns++;
        this.#recorder.callerStoppedSpeaking();
        this.#log.info("caller turn {turn} ended", { turn: this.#callerTurns });
        this.#idle.touch(true);
        return;
      case "conversation.item.added":
        this.#recorder.itemAdded(e.item.id);
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
        this.#deps.metrics?.protocolErrors.inc({
          side: "model",
          reason: e.error.code ?? e.error.type,
        });
        return;
      default:
        return;
    }
  }

  #onAudioDelta(responseId: string, itemId: string, delta: string): void {
    const phase = this.#phase;
    if (
      this.#silencedResponses.has(responseId) || (phase.name === "ending" && phase.request.apology)
    ) {
      this.#recorder.droppedLateDeltas++; // interrupted or finished, or the apology is playing
      return;
    }
    if (itemId !== this.#audioItemId) {
      this.#flushAudio();
      this.#audioItemId = itemId;
    }
    let mulaw: Uint8Array;
    try {
      mulaw = this.#deps.audio.toCaller(delta);
    } catch (error) {
      this.#log.warn("undecodable audio delta dropped: {error}", { error: errorMessage(error) });
      this.#deps.metrics?.protocolErrors.inc({ side: "model", reason: "invalid_audio" });
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
    if (mark !== undefined) this.#deps.stream.mark(mark);
  }

  #sendToCaller(itemId: string, mulaw: Uint8Array): void {
    if (mulaw.length === 0) return;
    if (!this.#deps.stream.sendAudio(mulaw)) return;
    const mark = this.#playout.chunkSent(itemId, mulaw.length);
    if (mark !== undefined) this.#deps.stream.mark(mark);
    this.#recorder.framesToCaller += mulaw.length / MULAW_FRAME_BYTES;
    const turnMs = this.#recorder.agentAudioSent();
    if (turnMs !== undefined) {
      this.#deps.metrics?.turnLatency.observe(turnMs / 1000);
      this.#log.info("agent answered turn {turn} in {latencyMs} ms", {
        turn: this.#callerTurns,
        latencyMs: Math.round(turnMs),
      });
    }
    this.#idle.touch(false);
  }

  // ---------------------------------------------------------------- barge-in

  #bargeIn(): void {
    const t0 = this.#clock.now();
    // Whatever the interrupted response still sends is stale: the server cancels it.
    if (this.#activeResponseId !== undefined) this.#silence(this.#activeResponseId);
    this.#aligner.reset();
    this.#deps.audio.resetOutbound();
    if (!this.#playout.hasUnplayed() || this.#phase.name === "ending") return;
    this.#deps.stream.clear(); // first, before anything else: stop the sound now
    const reactionMs = this.#clock.now() - t0;
    const truncations = this.#playout.interrupt();
    for (const t of truncations) this.#deps.session.truncate(t.itemId, t.audioEndMs);
    const heardMs = truncations.at(-1)?.audioEndMs;
    this.#recorder.bargeIn(heardMs, reactionMs);
    this.#log.info("caller barged in after {heardMs} ms of the agent's reply", {
      heardMs: heardMs ?? 0,
      reactionMs,
    });
    this.#deps.metrics?.bargeIns.inc();
    this.#deps.metrics?.bargeInReaction.observe(reactionMs / 1000);
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
      this.#toolsRunning++;
      this.#toolChain = this.#toolChain
        .then(() => this.#runTools(calls, status === "completed"))
        .catch((error) => this.#log.error("tools failed: {error}", { error: errorMessage(error) }))
        .finally(() => {
          this.#toolsRunning--;
          this.#continueEnding();
        });
      return;
    }
    this.#continueEnding();
  }

  async #runTools(calls: PendingToolCall[], completed: boolean): Promise<void> {
    if (this.#phase.name === "finished") return;
    const { session } = this.#deps;
    if (!completed) {
      // The response was cancelled (the caller spoke): do not act on it.
      for (const call of calls) this.#refuseTool(call, "the caller interrupted");
      return;
    }
    const filler = this.#timers.after(this.#deps.limits.slowToolMs, () => {
      if (this.#phase.name !== "live") return;
      // Never dead air: the model says a few words while the tool works.
      session.createResponse({
        instructions: "Say only a very short filler such as 'One moment while I check.'",
        tool_choice: "none",
      });
    });
    try {
      for (const call of calls) {
        if (this.#isOver()) return;
        if (this.#phase.name === "ending" && !CALL_CONTROL_TOOLS.has(call.name)) {
          // The goodbye is said or being said: nothing may change that the caller won't hear.
          this.#refuseTool(call, "the call is ending");
          continue;
        }
        const startedAt = isoNow(this.#clock);
        const outcome = await this.#deps.tools.invoke(call.name, call.arguments, {
          callSid: this.#deps.callSid,
          callerNumber: callerNumber(this.#deps.from),
        });
        this.#recordTool(call, outcome, startedAt);
        if (this.#isOver()) return;
        session.sendFunctionOutput(call.callId, outcomeToOutput(outcome));
      }
    } finally {
      this.#timers.clear(filler);
    }
    if (this.#phase.name === "live") session.createResponse();
  }

  #refuseTool(call: PendingToolCall, reason: string): void {
    const outcome: ToolOutcome = { ok: true, output: { status: "not_run", reason }, durationMs: 0 };
    this.#recordTool(call, outcome, isoNow(this.#clock));
    this.#deps.session.sendFunctionOutput(call.callId, outcomeToOutput(outcome));
  }

  #recordTool(call: PendingToolCall, outcome: ToolOutcome, startedAt: string): void {
    const result = outcome.ok
      ? ((outcome.output as { status?: string } | null)?.status ?? "ok")
      : outcome.error.code;
    this.#deps.metrics?.toolCalls.inc({ tool: call.name, result: outcome.ok ? "ok" : result });
    if (call.name === "book_slot" && outcome.ok) {
      this.#deps.metrics?.bookings.inc({ result });
    }
    this.#recorder.tool(call, outcome, startedAt);
    const fields = { tool: call.name, result, durationMs: outcome.durationMs };
    if (outcome.ok) this.#log.info("tool {tool}: {result} in {durationMs} ms", fields);
    else {
      this.#log.warn("tool {tool}: {result} in {durationMs} ms", {
        ...fields,
        detail: outcome.error.message,
      });
    }
    this.#save("in_progress"); // a crash now keeps what the tools did
  }

  // ---------------------------------------------------------------- ending

  /**
   * Enters `ending` with its reason (decided here, once), unless the call is already
   * ending or over. What is still being said is finished first.
   */
  #endWith(request: EndRequest, reason: EndReason): boolean {
    const name = this.#phase.name;
    if (name === "ending" || name === "finished") return false;
    // A transfer not yet made is no transfer: a caller who leaves first hung up (during
    // the apology, the model being gone says more).
    const ifCallerLeaves: EndReason = request.kind === "hangup"
      ? reason
      : request.apology
      ? "model_unavailable"
      : "caller_hung_up";
    this.#setPhase({ name: "ending", request, reason, ifCallerLeaves, stage: "goodbye" });
    this.#idle.stop();
    this.#log.info("call ending ({kind}): {why}", { kind: request.kind, why: request.why });
    // Whatever happens (no goodbye, no echo), the call is over within the grace.
    this.#timers.after(
      this.#deps.limits.endingGraceMs ?? DEFAULT_ENDING_GRACE_MS,
      () => this.#forceEnd(),
    );
    this.#continueEnding();
    return true;
  }

  /** Carries out the ending once no response is in progress and no tool is running. */
  #continueEnding(): void {
    const phase = this.#phase;
    if (phase.name !== "ending" || phase.stage !== "goodbye") return;
    const { session } = this.#deps;
    if (session.state === "open" && session.responseActive) return; // the goodbye is coming
    if (this.#toolsRunning > 0) return; // their results come first
    void this.#carryOut(phase);
  }

  /** Transfer or hang up once everything said has been heard. */
  async #carryOut(ending: Ending): Promise<void> {
    this.#setPhase({ ...ending, stage: "draining" });
    this.#flushAudio();
    await this.#drained();
    const phase = this.#phase;
    if (phase.name === "ending" && phase.stage === "draining") await this.#execute(phase);
  }

  /** Carries out the request now: transfer (falling back to hang-up) or hang up. */
  async #execute(ending: Ending): Promise<void> {
    this.#setPhase({ ...ending, stage: "executing" });
    const { control, transferNumber, callSid } = this.#deps;
    const { request } = ending;
    if (request.kind === "transfer" && control && transferNumber) {
      this.#log.info("transferring the call: {why}", { why: request.why });
      try {
        await control.transfer(callSid, transferNumber);
        this.#awaitStop(); // Twilio now sends `stop`; that is not a hang-up
        return;
      } catch (error) {
        this.#log.error("transfer failed, hanging up: {error}", { error: errorMessage(error) });
        const now = this.#phase;
        if (now.name !== "ending") return;
        this.#setPhase({ ...now, reason: "error", ifCallerLeaves: "error" });
      }
    }
    await this.#hangUp(request.why);
  }

  /** Resolves when the audio sent so far has played, or by its deadline. */
  async #drained(): Promise<void> {
    let timer: TimerHandle | undefined;
    await Promise.race([
      this.#playout.whenDrained(),
      new Promise<void>((resolve) => {
        timer = this.#timers.after(this.#playout.drainDeadlineMs(), () => {
          this.#log.warn("playback not confirmed by its deadline; ending anyway");
          resolve();
        });
      }),
    ]);
    this.#timers.clear(timer);
  }

  async #hangUp(why: string): Promise<void> {
    this.#log.info("hanging up: {why}", { why });
    const control = this.#deps.control;
    if (control) {
      try {
        const result = await control.hangUp(this.#deps.callSid);
        if (result === "completed") return this.#awaitStop();
        this.#log.info("Twilio says the call had already ended");
      } catch (error) {
        this.#log.error("REST hang-up failed, closing the stream: {error}", {
          error: errorMessage(error),
        });
      }
    }
    // Without REST (or when it failed): closing the socket runs the <Hangup/> after </Connect>.
    this.#finishEnding();
  }

  /** After a REST transfer or hang-up: Twilio sends `stop`; if it does not, end anyway. */
  #awaitStop(): void {
    const phase = this.#phase;
    if (phase.name !== "ending") return;
    this.#setPhase({ ...phase, stage: "awaiting_stop" });
    this.#timers.after(this.#deps.limits.stopGraceMs ?? DEFAULT_STOP_GRACE_MS, () => {
      this.#log.warn("no stop from Twilio after the REST request; closing the stream");
      this.#finishEnding();
    });
  }

  #finishEnding(): void {
    const phase = this.#phase;
    if (phase.name === "ending") this.#finish(phase.reason);
  }

  /** The ending's grace ran out before the request was carried out: do it now. */
  #forceEnd(): void {
    const phase = this.#phase;
    if (phase.name !== "ending" || (phase.stage !== "goodbye" && phase.stage !== "draining")) {
      return;
    }
    this.#log.warn("ending took too long (stage {stage}); carrying it out now", {
      stage: phase.stage,
    });
    void this.#execute(phase);
  }

  #wrapUp(why: "max_duration" | "idle" | "shutdown"): void {
    const name = this.#phase.name;
    if (name !== "live" && name !== "starting") return;
    const reason: EndReason = why === "shutdown" ? "shutdown" : "agent_hung_up";
    const request: EndRequest = { kind: "hangup", why, apology: false };
    const { session } = this.#deps;
    if (name === "live" && session.state === "open") {
      const say = {
        max_duration: "We have reached the time limit for this call.",
        idle: "It seems the caller is no longer there.",
        shutdown: "The line has to close now for maintenance.",
      }[why];
      this.#recorder.note(`wrap-up: ${why}`);
      session.sendSystemText(`${say} Say a short, polite goodbye now. Do not call any tool.`);
      session.createResponse({ tool_choice: "none" }); // ending waits for it when it is sent
    }
    this.#endWith(request, reason);
  }

  #onModelClosed(): void {
    const phase = this.#phase;
    if (phase.name === "starting" || phase.name === "live") return this.#modelGone();
    // Ending: the goodbye will not come; carry out what was asked now.
    if (phase.name === "ending" && phase.stage === "goodbye") void this.#carryOut(phase);
  }

  /** The model is gone for good: apologise with prepared audio, then transfer or hang up. */
  #modelGone(): void {
    this.#log.error("model session unavailable; playing the apology", {
      closeReason: this.#deps.session.closeReason,
    });
    this.#recorder.note("model unavailable: apology played");
    if (this.#playout.hasUnplayed()) {
      this.#deps.stream.clear();
      this.#playout.interrupt();
    }
    this.#aligner.reset();
    this.#audioItemId = undefined;
    this.#aligner.append(this.#deps.apology);
    this.#sendToCaller("apology", this.#aligner.flush());
    this.#markTail();
    const canTransfer = Boolean(this.#deps.control && this.#deps.transferNumber);
    this.#endWith(
      { kind: canTransfer ? "transfer" : "hangup", why: "model unavailable", apology: true },
      canTransfer ? "transferred" : "model_unavailable",
    );
  }

  #onStreamEnded(how: "stop" | "close"): void {
    const phase = this.#phase;
    if (phase.name === "finished") return;
    this.#log.info("media stream ended ({how})", { how });
    if (phase.name !== "ending") return this.#finish("caller_hung_up");
    const carriedOut = phase.stage === "executing" || phase.stage === "awaiting_stop";
    this.#finish(carriedOut ? phase.reason : phase.ifCallerLeaves);
  }

  #finish(reason: EndReason): void {
    if (this.#phase.name === "finished") return;
    const outcome = this.#outcomeFor(reason);
    this.#setPhase({ name: "finished", reason, outcome });
    this.#idle.stop();
    this.#timers.clearAll();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    const { session, stream, metrics } = this.#deps;
    session.close("call ended");
    stream.close(1000, "call ended");
    metrics?.activeCalls.dec();
    metrics?.framesRelayed.inc({ direction: "to_model" }, this.#recorder.framesToModel);
    metrics?.framesRelayed.inc({ direction: "to_caller" }, this.#recorder.framesToCaller);
    metrics?.callsTotal.inc({ outcome });
    this.#log.info("call ended: {outcome} ({reason})", {
      outcome,
      reason,
      turns: this.#recorder.turnMs.length,
    });
    // Tool calls in flight finish first so their results are in the record.
    void this.#toolChain.then(() => this.#save(outcome)).then((record) =>
      this.#resolveDone(record)
    );
  }

  #outcomeFor(reason: EndReason): CallOutcome {
    if (reason === "transferred" || reason === "model_unavailable" || reason === "error") {
      return reason;
    }
    const { bookings } = this.#recorder;
    if (bookings.confirmed > 0) return "booked";
    if (bookings.rescheduled > 0) return "rescheduled";
    if (bookings.cancelled > 0) return "cancelled";
    return reason;
  }

  /** Saves the record as it is now, after every earlier save; never rejects. */
  #save(outcome: CallOutcome): Promise<CallRecord> {
    const saved = this.#saves.then(async () => {
      const phase = this.#phase;
      const record = this.#recorder.build({
        outcome,
        ended: outcome !== "in_progress",
        endReason: phase.name === "finished" ? phase.reason : undefined,
        conversation: this.#deps.session.conversation.entries,
        modelStats: { ...this.#deps.session.stats },
        streamCounters: this.#deps.stream.counters,
      });
      try {
        await this.#deps.records.saveCall(record);
      } catch (error) {
        this.#log.error("saving the call record failed: {error}", { error: errorMessage(error) });
      }
      return record;
    });
    this.#saves = saved;
    return saved;
  }

  // ---------------------------------------------------------------- greeting and idle

  #greet(): void {
    if (this.#phase.name !== "starting") return;
    this.#setPhase({ name: "live" });
    this.#deps.session.createResponse({
      instructions: `Greet the caller by saying exactly: "${this.#deps.greeting}"`,
      tool_choice: "none",
    });
    this.#idle.touch(true);
  }

  #checkIn(): void {
    this.#recorder.note("caller silent: check-in");
    this.#log.info("caller silent: checking in");
    this.#deps.session.sendSystemText(
      "The caller has been silent for a while. Briefly ask if they are still there.",
    );
    this.#deps.session.createResponse({ tool_choice: "none" });
  }
}

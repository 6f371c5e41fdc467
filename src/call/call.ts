/**
 * One phone call: the only object that knows both the caller's media stream and the
 * model session (each seen through a narrow port, `ports.ts`).
 *
 * It relays audio both ways (frame-aligned; a mark every 200 ms of audio and at its end),
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
import { type Clock, TimerGroup } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { ServerEvent, ServerItem } from "../realtime/protocol.ts";
import { callerNumber } from "../phone.ts";
import { AgentAudio } from "./agent_audio.ts";
import { IdlePolicy } from "./idle_policy.ts";
import { MARK_INTERVAL_MS } from "./playout.ts";
import type { CallControl } from "./ports.ts";
import type { CallOutcome, CallRecord } from "./record.ts";
import type { CallDeps, CallLimits } from "./deps.ts";
import { CallRecorder, type CallRecordSink } from "./recorder.ts";
import {
  type CallPhase,
  type EndReason,
  type EndRequest,
  outcomeFor,
  reasonWhenStreamEnds,
} from "./phase.ts";
import { type ToolGate, ToolRunner } from "./tool_runner.ts";
import { CallEnding } from "./ending.ts";
import { DtmfBatcher } from "./dtmf.ts";
import { saidInTextOnly, SpokenReplies } from "./spoken_replies.ts";
import type { LiveCallView } from "./live_view.ts";
import { runAfterEndStep } from "./call_tap.ts";

export type { CallControl, CallDeps, CallLimits, CallPhase, CallRecordSink, EndReason, EndRequest };

/** How long a dropped model session may take to come back before the apology, ms. */
const RECONNECT_PATIENCE_MS = 2500;
const DEFAULT_AFTER_END_MS = 10_000;

/** One phone call. Create with the started stream, then {@linkcode Call.start}. */
export class Call {
  readonly #deps: CallDeps;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timers: TimerGroup;
  readonly #audio: AgentAudio;
  readonly #idle: IdlePolicy;
  readonly #recorder: CallRecorder;
  readonly #tools: ToolRunner;
  readonly #ending: CallEnding;

  #phase: CallPhase = { name: "starting" };
  #callerSpeaking = false;
  #callerTurns = 0;
  readonly #spoken = new SpokenReplies();
  readonly #keys: DtmfBatcher;
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
    this.#keys = new DtmfBatcher(this.#timers, (digits) => this.#onKeys(digits));
    this.#recorder = new CallRecorder({
      callSid: deps.callSid,
      from: deps.from,
      to: deps.to,
      clock: deps.clock,
      sink: deps.records,
      log: deps.log,
    });
    this.#audio = new AgentAudio({
      stream: deps.stream,
      audio: deps.audio,
      now: () => deps.clock.now(),
      markIntervalMs: deps.limits.markIntervalMs ?? MARK_INTERVAL_MS,
      onSent: (frames) => this.#agentAudioSent(frames),
      tap: deps.tap,
    });
    this.#tools = new ToolRunner({
      callSid: deps.callSid,
      callerNumber: callerNumber(deps.from),
      tools: deps.tools,
      session: deps.session,
      recorder: this.#recorder,
      clock: deps.clock,
      timers: this.#timers,
      slowToolMs: deps.limits.slowToolMs,
      metrics: deps.metrics,
      log: deps.log,
      gate: () => this.#toolGate(),
      onRecorded: () => void this.#save("in_progress"), // a crash now keeps what the tools did
      onIdle: () => this.#ending.proceed(),
    });
    this.#idle = new IdlePolicy({
      clock: deps.clock,
      timers: this.#timers,
      checkInMs: deps.limits.idleCheckinMs,
      hangUpMs: deps.limits.idleHangupMs,
      isBusy: () =>
        this.#callerSpeaking || this.#deps.session.responseActive || this.#audio.playing ||
        this.#phase.name !== "live",
      onCheckIn: () => this.#checkIn(),
      onGiveUp: () => this.#wrapUp("idle"),
    });
    this.#ending = new CallEnding({
      callSid: deps.callSid,
      control: deps.control,
      transferNumber: deps.transferNumber,
      endingGraceMs: deps.limits.endingGraceMs,
      stopGraceMs: deps.limits.stopGraceMs,
      session: deps.session,
      audio: this.#audio,
      timers: this.#timers,
      log: deps.log,
      phase: () => this.#phase,
      setPhase: (next) => this.#setPhase(next),
      toolsBusy: () => this.#tools.busy,
      started: () => this.#idle.stop(),
      finish: (reason) => this.#finish(reason),
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
    this.#log.info("call started from {from} to {to}", {
      from: this.#deps.from,
      to: this.#deps.to,
    });
    stream.attach({
      media: (mulawBase64, timestampMs) => this.#onCallerAudio(mulawBase64, timestampMs),
      mark: (name) => this.#audio.markEchoed(name),
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
      session.on("state", (state, previous) => {
        if (state === "reconnecting" && previous === "open") this.#modelReconnecting();
      }),
      session.on("request", (outcome) => metrics?.responseRequests.inc({ result: outcome })),
      session.on("stall", (stall) => {
        this.#log.error("model stalled ({reason}); treating it as gone", { reason: stall.reason });
        session.close(`model stalled: ${stall.reason}`); // -> closed -> apology
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

  /** Records an SMS sent (or tried) for this call; saved in the record as `extra.sms`. */
  recordSms(sms: { to: string; bookingId?: string; sid?: string; error?: string }): void {
    this.#recorder.sms(sms);
  }

  /** A snapshot for the operator console's live page. */
  liveView(): LiveCallView {
    const state: LiveCallView["state"] = this.#callerSpeaking
      ? "caller_speaking"
      : this.#audio.playing
      ? "agent_speaking"
      : this.#tools.busy
      ? "running_tool"
      : "listening";
    return {
      callSid: this.#deps.callSid,
      from: this.#deps.from,
      to: this.#deps.to,
      startedAt: this.#recorder.startedAt,
      state,
      transcript: this.#recorder.transcript(this.#deps.session.conversation.entries),
    };
  }

  /** Called by the call-control tools: hang up once the goodbye has played. */
  requestHangUp(why: string): void {
    this.#ending.begin({ kind: "hangup", why, apology: false }, "agent_hung_up");
  }

  /** Called by the call-control tools (only offered when a transfer is possible). */
  requestTransfer(why: string): void {
    this.#ending.begin({ kind: "transfer", why, apology: false }, "transferred");
  }

  // ---------------------------------------------------------------- phase

  #toolGate(): ToolGate {
    const name = this.#phase.name;
    return name === "finished" ? "over" : name === "ending" ? "ending" : "open";
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

  #onCallerAudio(mulawBase64: string, timestampMs: number): void {
    const phase = this.#phase;
    if (phase.name === "finished") return;
    const { tap, audio } = this.#deps;
    // Decoded only for whoever needs the bytes: the recording, the transcoder.
    const mulaw = tap !== undefined || !audio.passThrough
      ? Uint8Array.fromBase64(mulawBase64)
      : undefined;
    if (tap !== undefined) tap.callerAudio(mulaw!, timestampMs);
    if (phase.name === "ending" && phase.request.apology) return;
    this.#deps.session.appendAudio(audio.passThrough ? mulawBase64 : audio.toModel(mulaw!));
    this.#recorder.framesToModel++;
  }

  #onDtmf(digit: string): void {
    if (this.#phase.name !== "live" && this.#phase.name !== "starting") return;
    this.#keys.press(digit);
    this.#idle.touch(true);
  }

  /** A quick sequence of key presses: one note and one message to the model. */
  #onKeys(digits: string): void {
    if (this.#phase.name !== "live") return;
    this.#log.info("caller pressed {digits}", { digits });
    this.#recorder.note(`caller pressed ${digits}`);
    this.#deps.session.sendUserText(`(caller pressed ${digits})`);
    this.#deps.session.createResponse(undefined, "defer");
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
        this.#log.info("caller turn: speaking", { who: "caller" });
        this.#bargeIn();
        this.#idle.touch(true);
        return;
      case "input_audio_buffer.speech_stopped":
        this.#callerSpeaking = false;
        this.#callerTurns++;
        this.#recorder.callerStoppedSpeaking();
        this.#log.info("caller turn ended", { who: "caller", turn: this.#callerTurns });
        this.#idle.touch(true);
        return;
      case "conversation.item.added":
        this.#recorder.itemAdded(e.item.id);
        return;
      case "response.created":
        this.#audio.responseStarted(e.response.id);
        return;
      case "response.output_audio.done":
        this.#audio.itemDone(e.item_id);
        return;
      case "response.output_item.done":
        // Tool calls come from the completed item (it has the name on every server version).
        this.#toolCall(e.item, e.response_id);
        return;
      case "response.done": {
        const id = e.response.id ?? "";
        const status = e.response.status ?? "completed";
        this.#audio.responseDone(id);
        // A call whose output item never arrived is still in the response's output.
        for (const item of e.response.output ?? []) this.#toolCall(item, id);
        if (status === "completed") this.#checkSpokeAloud(id, e.response.output ?? []);
        if (!this.#tools.responseDone(id, status)) this.#ending.proceed();
        return;
      }
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
    const result = phase.name === "ending" && phase.request.apology
      ? "silenced" // the apology is playing
      : this.#audio.delta(responseId, itemId, delta);
    if (result === "silenced") this.#recorder.droppedLateDeltas++;
    else if (result === "undecodable") {
      this.#log.warn("undecodable audio delta dropped");
      this.#deps.metrics?.protocolErrors.inc({ side: "model", reason: "invalid_audio" });
    }
  }

  #agentAudioSent(frames: number): void {
    this.#recorder.framesToCaller += frames;
    const turnMs = this.#recorder.agentAudioSent();
    if (turnMs !== undefined) {
      this.#deps.metrics?.turnLatency.observe(turnMs / 1000);
      this.#log.info("agent turn: first audio {latencyMs} ms after the caller stopped", {
        who: "agent",
        turn: this.#callerTurns,
        latencyMs: Math.round(turnMs),
      });
    }
    this.#idle.touch(false);
  }

  // ---------------------------------------------------------------- barge-in

  #bargeIn(): void {
    const t0 = this.#clock.now();
    const truncations = this.#audio.interrupt(this.#phase.name !== "ending");
    if (truncations === undefined) return;
    const reactionMs = this.#clock.now() - t0;
    for (const t of truncations) this.#deps.session.truncate(t.itemId, t.audioEndMs);
    const heardMs = truncations.at(-1)?.audioEndMs;
    this.#recorder.bargeIn(heardMs, reactionMs);
    this.#log.info("barge-in: agent cut off after {heardMs} ms heard; cleared in {reactionMs} ms", {
      heardMs: heardMs ?? 0,
      reactionMs: Math.round(reactionMs * 1000) / 1000,
    });
    this.#deps.metrics?.bargeIns.inc();
    this.#deps.metrics?.bargeInReaction.observe(reactionMs / 1000);
  }

  // ---------------------------------------------------------------- ending

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
      session.createResponse({ tool_choice: "none" }, "defer"); // the ending waits for it
    }
    this.#ending.begin(request, reason);
  }

  #onModelClosed(): void {
    const phase = this.#phase;
    if (phase.name === "starting" || phase.name === "live") return this.#modelGone();
    this.#ending.modelClosed(); // ending: the goodbye will not come; go on without it
  }

  /** The model is gone for good: apologise with prepared audio, then transfer or hang up. */
  #modelGone(): void {
    this.#log.error("model session unavailable; playing the apology", {
      closeReason: this.#deps.session.closeReason,
    });
    this.#recorder.note("model unavailable: apology played");
    this.#audio.playPrompt(this.#deps.prompts.apology, "apology");
    const canTransfer = Boolean(this.#deps.control && this.#deps.transferNumber);
    this.#ending.begin(
      { kind: canTransfer ? "transfer" : "hangup", why: "model unavailable", apology: true },
      canTransfer ? "transferred" : "model_unavailable",
    );
  }

  #onStreamEnded(how: "stop" | "close"): void {
    const phase = this.#phase;
    if (phase.name === "finished") return;
    this.#log.info("media stream ended ({how})", { how });
    const endedBy = this.#deps.stream.endedBy;
    if (endedBy !== undefined && phase.name !== "ending") {
      // Not the caller: the stream misbehaved (no media, a flood) and was ended here.
      this.#log.warn("the media stream was ended here: {endedBy}", { endedBy });
      this.#recorder.note(`media stream ended: ${endedBy}`);
      return this.#finish("error");
    }
    if (phase.name !== "ending") return this.#finish("caller_hung_up");
    this.#finish(reasonWhenStreamEnds(phase));
  }

  #finish(reason: EndReason): void {
    if (this.#phase.name === "finished") return;
    const outcome = outcomeFor(reason, this.#recorder.bookings);
    this.#setPhase({ name: "finished", reason, outcome });
    this.#recorder.ended();
    this.#idle.stop();
    this.#timers.clearAll();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    const { stream, metrics } = this.#deps;
    this.#deps.tap?.ended(this.#clock.now());
    stream.close(1000, "call ended");
    // The after-call step (the summary) still needs the model; then it is closed.
    const afterEnd = this.#runAfterEnd(reason, outcome);
    metrics?.activeCalls.dec();
    metrics?.framesRelayed.inc({ direction: "to_model" }, this.#recorder.framesToModel);
    metrics?.framesRelayed.inc({ direction: "to_caller" }, this.#recorder.framesToCaller);
    metrics?.callsTotal.inc({ outcome });
    this.#log.info("call ended: {outcome}", {
      outcome,
      reason,
      turns: this.#recorder.turnMs.length,
    });
    // Tool calls in flight and the after-call step finish first: their results are in the record.
    void Promise.all([this.#tools.settled, afterEnd])
      .then(() => this.#save(outcome))
      .then((record) => this.#resolveDone(record));
  }

  /**
   * Runs the after-call step (bounded, never rejects), then closes the model session (at
   * once when there is no step).
   */
  async #runAfterEnd(reason: EndReason, outcome: CallOutcome): Promise<void> {
    const { afterEnd: step, session } = this.#deps;
    if (step) {
      await runAfterEndStep(step, {
        reason,
        outcome,
        annotate: (key, value) => this.#recorder.annotate(key, value),
      }, {
        clock: this.#clock,
        limitMs: this.#deps.limits.afterEndMs ?? DEFAULT_AFTER_END_MS,
        log: this.#log,
      });
    }
    session.close("call ended");
  }

  /** Saves the record as it is now, after every earlier save; never rejects. */
  #save(outcome: CallOutcome): Promise<CallRecord> {
    return this.#recorder.save(outcome, () => {
      const phase = this.#phase;
      return {
        endReason: phase.name === "finished" ? phase.reason : undefined,
        conversation: this.#deps.session.conversation.entries,
        modelStats: { ...this.#deps.session.stats },
        streamCounters: this.#deps.stream.counters,
      };
    });
  }

  // ---------------------------------------------------------------- model faults

  /** A function call item of `responseId` (from its output item or the response's output). */
  #toolCall(item: ServerItem, responseId: string): void {
    if (item.type !== "function_call" || !item.call_id || !item.name) return;
    this.#tools.requested({
      callId: item.call_id,
      name: item.name,
      arguments: item.arguments ?? "",
      responseId,
    });
  }

  /** A reply said in text only: ask again aloud once, then give up on the model. */
  #checkSpokeAloud(responseId: string, output: readonly ServerItem[]): void {
    const verdict = this.#spoken.judge({
      spoke: this.#audio.spoke(responseId),
      saidInText: saidInTextOnly(output),
    });
    if (verdict === "fine") return;
    this.#log.warn("the model answered in text only ({count} in a row)", {
      count: this.#spoken.textOnlyInARow,
    });
    this.#deps.metrics?.protocolErrors.inc({ side: "model", reason: "text_only_reply" });
    if (verdict === "give_up") {
      this.#deps.session.close("model answers in text only");
      return;
    }
    if (this.#phase.name !== "live") return;
    this.#deps.session.createResponse({
      instructions: "Your last answer was not heard. Say it again to the caller, aloud.",
    }, "defer");
  }

  /**
   * The model socket dropped mid-call: say a short hold phrase now (after whatever is still
   * playing), and if the session is not back within {@linkcode RECONNECT_PATIENCE_MS},
   * give up on it: the apology follows within about three seconds of the drop.
   */
  #modelReconnecting(): void {
    if (this.#phase.name !== "live") return;
    this.#recorder.note("model connection lost: hold phrase");
    this.#audio.appendPrompt(this.#deps.prompts.hold, "hold");
    const { session } = this.#deps;
    this.#timers.after(this.#deps.limits.reconnectPatienceMs ?? RECONNECT_PATIENCE_MS, () => {
      if (session.state === "reconnecting") session.close("model did not come back in time");
    });
  }

  // ---------------------------------------------------------------- greeting and idle

  #greet(): void {
    if (this.#phase.name !== "starting") return;
    this.#setPhase({ name: "live" });
    this.#log.info("agent turn: greeting", { who: "agent" });
    this.#deps.session.createResponse({
      instructions: `Greet the caller by saying exactly: "${this.#deps.greeting}"`,
      tool_choice: "none",
    }, "drop"); // if the server already answers the caller's first words, that comes first
    this.#idle.touch(true);
  }

  #checkIn(): void {
    this.#recorder.note("caller silent: check-in");
    this.#log.info("caller silent: checking in");
    this.#deps.session.sendSystemText(
      "The caller has been silent for a while. Briefly ask if they are still there.",
    );
    this.#deps.session.createResponse({ tool_choice: "none" }, "drop");
  }
}

/**
 * The call manager: admits calls, pre-warms model sessions at the voice webhook, builds
 * one {@linkcode Call} per verified media stream with its own tools and connection, and
 * drains calls on shutdown. Nothing here is shared between calls but read-only config.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { BusinessProfile } from "../booking/business.ts";
import type { Booking, BookingStore } from "../booking/types.ts";
import type { Metrics } from "../metrics.ts";
import { type Logger, logger } from "../log.ts";
import { type Clock, systemClock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import { buildInstructions } from "../agent/prompt.ts";
import { bookingTools } from "../agent/booking_tools.ts";
import { callControlTools } from "../agent/call_control_tools.ts";
import { type Tool, ToolRegistry } from "../agent/tools.ts";
import { RealtimeConnection, type RealtimeConnectionOptions } from "../realtime/connection.ts";
import { PrewarmPool } from "../realtime/prewarm.ts";
import { webSocketFactoryFor } from "../realtime/node_ws.ts";
import { buildSessionConfig } from "../realtime/session_config.ts";
import type { TwilioStream } from "../twilio/media_stream.ts";
import type { StreamStart } from "../twilio/protocol.ts";
import type { Admission, IncomingCallInfo } from "../twilio/routes.ts";
import type { TwilioCallControl } from "../twilio/rest.ts";
import type { Apologies } from "../assets.ts";
import { audioPathFor } from "./audio_path.ts";
import { Call, type CallControl, type CallLimits } from "./call.ts";
import type { CallPurpose } from "./purpose.ts";
import { callerNumber } from "../phone.ts";
import type { LiveCallView } from "./live_view.ts";
import { greetingFor } from "../booking/business.ts";
import { AfterCall } from "../after_call/after_call.ts";
import { CallRecording, recordingPath } from "../recording/call_recording.ts";
import type { AfterEndStep } from "./call_tap.ts";

const log = logger("call");
/** Before the drain window ends, after-call work stops waiting for the model this early. */
const AFTER_CALL_SHUTDOWN_MARGIN_MS = 2000;

/** What the manager needs from the rest of the service. */
export interface CallManagerDeps {
  config: Config;
  profile: BusinessProfile;
  store: BookingStore;
  metrics: Metrics;
  apologies: Apologies;
  /** REST control; absent without `TWILIO_ACCOUNT_SID`. */
  control?: ServiceControl;
  /** Override timing (tests). */
  limits?: Partial<CallLimits>;
  /** Extra Realtime connection options (tests: backoff). */
  connectionOptions?: Partial<RealtimeConnectionOptions>;
  /** Current instant for the prompt's "today" (tests). */
  now?: () => Temporal.Instant;
  /** Time and timers for the calls, the pre-warm pool and the drain (default: system). */
  clock?: Clock;
  /** Unsent bytes in a model socket past which its session is ended; default 1 MiB. */
  maxModelBacklogBytes?: number;
  /** Calls this service placed that are still ringing: each holds a slot (reminders). */
  outboundLoad?: () => number;
  /**
   * What a media stream's call is for, from its `<Parameter>`s (a call this service placed);
   * undefined for an ordinary incoming call. Rejects when the parameters claim a purpose
   * that does not check out (the stream is then closed).
   */
  resolvePurpose?: (start: StreamStart) => Promise<CallPurpose | undefined>;
}

/**
 * Default {@linkcode CallManagerDeps.maxModelBacklogBytes}: 15 s of pcm16 appends (80 s of
 * pcmu) that the model has not received; the caller is no longer being heard.
 */
export const DEFAULT_MAX_MODEL_BACKLOG_BYTES = 1024 * 1024;

/** What the service does over Twilio's REST API: call control and SMS. */
export type ServiceControl = CallControl & Pick<TwilioCallControl, "sendSms">;

/** A CallSid taken by a stream: its call is being built, or runs, until `ended`. */
interface CallSlot {
  call: Call | undefined;
  ended: Promise<void>;
}

/** Runs every call of this process. */
export class CallManager {
  readonly #deps: CallManagerDeps;
  /** Reserved synchronously when a stream starts, so a second stream for it is refused. */
  readonly #calls = new Map<string, CallSlot>();
  readonly #prewarm: PrewarmPool;
  readonly #clock: Clock;
  readonly #limits: CallLimits;
  readonly #canTransfer: boolean;
  #draining = false;
  /** Aborted near the end of the drain window: after-call work stops waiting for the model. */
  readonly #shutdown = new AbortController();

  constructor(deps: CallManagerDeps) {
    this.#deps = deps;
    const { config } = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#prewarm = new PrewarmPool({
      ttlMs: 15_000,
      maxEntries: config.limits.maxCalls * 2,
      clock: this.#clock,
    });
    this.#canTransfer = Boolean(config.transferNumber && deps.control);
    this.#limits = {
      idleCheckinMs: config.limits.idleCheckinSeconds * 1000,
      idleHangupMs: config.limits.idleHangupSeconds * 1000,
      maxCallMs: config.limits.maxCallSeconds * 1000,
      modelReadyMs: 2500,
      slowToolMs: 1000,
      afterEndMs: config.summary.timeoutSeconds * 1000,
      ...deps.limits,
    };
  }

  /** Calls with an open media stream (or still finishing their after-call work). */
  get activeCount(): number {
    return this.#calls.size;
  }

  /** Calls not yet over (a call writing its summary no longer counts). */
  #liveSlots(): CallSlot[] {
    return [...this.#calls.values()].filter((slot) => slot.call?.phase.name !== "finished");
  }

  /** True once {@linkcode drain} was called. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Uses a reloaded business profile for calls that start from now on. */
  setProfile(profile: BusinessProfile): void {
    this.#deps.profile = profile;
  }

  /** Snapshots of this instance's calls in progress (the console's live page polls them). */
  liveCalls(): LiveCallView[] {
    return this.#liveSlots().flatMap((slot) => slot.call ? [slot.call.liveView()] : []);
  }

  /** Calls holding a slot: live, pre-warmed, and placed by us and still ringing. */
  get load(): number {
    return this.#liveSlots().length + this.#prewarm.size + (this.#deps.outboundLoad?.() ?? 0);
  }

  /** Whether a new call may be taken (asked by the voice webhook). */
  admission(): Admission {
    if (this.#draining) return { accept: false, reason: "draining" };
    if (this.load >= this.#deps.config.limits.maxCalls) {
      return { accept: false, reason: "busy" };
    }
    return { accept: true };
  }

  /**
   * How many more calls this service may place now: `MAX_CALLS` less a reserve that only
   * incoming callers may use (a tenth, at least one), less every call holding a slot.
   */
  outboundCapacity(): number {
    if (this.#draining) return 0;
    const max = this.#deps.config.limits.maxCalls;
    return Math.max(0, max - Math.max(1, Math.floor(max / 10)) - this.load);
  }

  /**
   * Voice webhook accepted a call: open its model session while Twilio sets up the stream.
   * `purpose` for a call this service placed (its prompt and tools).
   */
  onIncomingCall(info: IncomingCallInfo, purpose?: CallPurpose): void {
    this.#prewarm.warm(info.callSid, () => this.#newConnection(info.callSid, info.from, purpose));
  }

  /**
   * Twilio's status callbacks: attached to the live call's record, or to the stored
   * record once the call is over (a call that never reached the stream gets one).
   */
  async onTwilioStatus(callSid: string, key: string, value: Record<string, unknown>) {
    const live = this.#calls.get(callSid)?.call;
    if (live) {
      live.annotate(key, value);
      return;
    }
    const { store } = this.#deps;
    try {
      const record = await store.getCall(callSid);
      if (record) {
        await store.saveCall({ ...record, extra: { ...record.extra, [key]: value } });
      } else if (key === "twilioStatus") {
        const now = new Date().toISOString();
        await store.saveCall({
          callSid,
          from: String(value.from ?? ""),
          to: String(value.to ?? ""),
          startedAt: now,
          endedAt: now,
          outcome: `not_connected_${value.status}`,
          transcript: [],
          toolCalls: [],
          latency: {},
          bargeIns: [],
          extra: { [key]: value },
        });
      }
    } catch (error) {
      log.with({ callSid }).error("recording Twilio status failed: {error}", {
        error: errorMessage(error),
      });
    }
  }

  /**
   * A verified media stream started: reserve its CallSid now (a second stream for it is
   * refused), claim the pre-warmed model session (or time out into the apology), then run
   * the call. The stream holds what the caller sends until the call attaches.
   */
  onStream(stream: TwilioStream, start: StreamStart): void {
    const callSid = start.callSid;
    const callLog = log.with({ callSid });
    if (this.#calls.has(callSid)) {
      callLog.warn("a second media stream for a live call was refused");
      stream.close(1008, "duplicate stream");
      return;
    }
    // The webhook admits calls; tokens gathered earlier must not open more streams.
    const maxCalls = this.#deps.config.limits.maxCalls;
    const live = this.#liveSlots().length;
    if (live >= maxCalls) {
      callLog.warn("media stream refused: {count} calls already active (MAX_CALLS {max})", {
        count: live,
        max: maxCalls,
      });
      void this.#prewarm.claim(callSid).then((session) => session?.close("refused: at capacity"));
      stream.close(1013, "at capacity");
      return;
    }
    const { promise: ended, resolve: release } = Promise.withResolvers<void>();
    const slot: CallSlot = { call: undefined, ended };
    this.#calls.set(callSid, slot);
    ended.then(() => this.#calls.delete(callSid));
    // The model must be ready soon after the stream starts, pre-warmed or not.
    const streamStartedAt = this.#clock.now();
    const readyBy = streamStartedAt + this.#limits.modelReadyMs;
    const purpose = (this.#deps.resolvePurpose?.(start) ?? Promise.resolve(undefined)).then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    void Promise.all([this.#claim(callSid, this.#limits.modelReadyMs), purpose]).then(
      ([claimed, resolved]) => {
        if (!resolved.ok) {
          if (claimed && claimed !== "timeout") claimed.close("call refused");
          throw resolved.error;
        }
        const purpose = resolved.value;
        const from = start.from ?? "";
        const session = claimed === "timeout"
          ? this.#closedConnection(callSid, from) // too late: the caller gets the apology
          : claimed ?? this.#newConnection(callSid, from, purpose);
        const call = this.#startCall(stream, start, session, readyBy, streamStartedAt, purpose);
        slot.call = call;
        const stopWatching = this.#watchBacklog(session, callLog);
        call.done
          .then((record) => purpose?.onEnded?.(record))
          .catch((error) =>
            callLog.error("after the call: {error}", { error: errorMessage(error) })
          )
          .finally(() => {
            stopWatching();
            release();
          });
      },
    ).catch((error) => {
      callLog.error("could not start the call: {error}", { error: errorMessage(error) });
      release();
      stream.close(1011, "internal error");
    });
  }

  /**
   * Checks the model socket's unsent bytes every second; past the bound the session is
   * ended (logged): the model hears the caller later and later, and memory grows. The call
   * then apologises and ends, as when the model is lost.
   */
  #watchBacklog(session: RealtimeConnection, callLog: typeof log): () => void {
    const limit = this.#deps.maxModelBacklogBytes ?? DEFAULT_MAX_MODEL_BACKLOG_BYTES;
    let timer: unknown;
    const check = () => {
      const bytes = session.bufferedAmount;
      if (bytes > limit) {
        callLog.error("model socket backed up: {bytes} bytes unsent (limit {limit}); ending it", {
          bytes,
          limit,
        });
        this.#deps.metrics.protocolErrors.inc({ side: "model", reason: "socket_backlog" });
        session.close("model socket backed up");
      } else if (session.state !== "closed") {
        timer = this.#clock.setTimeout(check, 1000);
      }
    };
    timer = this.#clock.setTimeout(check, 1000);
    return () => this.#clock.clearTimeout(timer);
  }

  /** The pre-warmed connection, undefined when none, or "timeout" if it is not ready in time. */
  async #claim(
    callSid: string,
    waitMs: number,
  ): Promise<RealtimeConnection | undefined | "timeout"> {
    const claim = this.#prewarm.claim(callSid);
    let timer: unknown;
    const timeout = new Promise<"timeout">((r) => {
      timer = this.#clock.setTimeout(() => r("timeout"), waitMs);
    });
    const first = await Promise.race([claim, timeout]);
    this.#clock.clearTimeout(timer);
    if (first === "timeout") void claim.then((late) => late?.close("claimed too late"));
    return first;
  }

  #closedConnection(callSid: string, from: string): RealtimeConnection {
    const connection = this.#newConnection(callSid, from);
    connection.close("model not ready in time");
    return connection;
  }

  #startCall(
    stream: TwilioStream,
    start: StreamStart,
    session: RealtimeConnection,
    modelReadyBy: number,
    streamStartedAt: number,
    purpose?: CallPurpose,
  ): Call {
    const { config, store, metrics, apologies, control } = this.#deps;
    const callSid = start.callSid;
    const callLog = log.with({ callSid });
    const recording = config.recording.enabled
      ? this.#startRecording(callSid, streamStartedAt, callLog)
      : undefined;
    // Tools need the call (to end it) and the call needs the tools: bind late.
    const tools = new ToolRegistry(
      this.#tools({
        requestHangUp: (reason) => call.requestHangUp(reason),
        requestTransfer: (reason) => call.requestTransfer(reason),
      }, purpose),
      this.#clock,
    );
    const call: Call = new Call({
      callSid,
      // The other party: the caller, or the customer this service called.
      from: purpose?.customerNumber ?? start.from ?? "",
      to: start.customParameters?.to ?? "",
      stream,
      session,
      audio: audioPathFor(config.audioFormat),
      tools,
      records: store,
      greeting: purpose?.greeting ?? greetingFor(this.#deps.profile, config.recording.enabled),
      limits: this.#limits,
      modelReadyBy,
      prompts: {
        apology: this.#canTransfer ? apologies.transfer : apologies.hangUp,
        hold: apologies.hold,
      },
      transferNumber: this.#canTransfer ? config.transferNumber : undefined,
      control,
      metrics,
      log: callLog,
      clock: this.#clock,
      tap: recording,
      afterEnd: this.#afterEnd(callSid, session, recording, callLog),
    });
    if (recording) call.annotate("recording", recording.info());
    if (purpose) {
      call.annotate("purpose", {
        kind: purpose.kind,
        outbound: purpose.outbound,
        ...purpose.details,
      });
    }
    call.start();
    return call;
  }

  /** A call's recording, sample 0 at the stream's start (`RECORD_CALLS=on`). */
  #startRecording(callSid: string, origin: number, callLog: Logger): CallRecording {
    const wallStart = this.#clock.wallNow() - (this.#clock.now() - origin);
    return CallRecording.start({
      path: recordingPath(this.#deps.config.recording.dir, callSid, wallStart),
      origin,
      clock: this.#clock,
      log: callLog,
    });
  }

  /**
   * The after-call step of a call: the recording's file is finished and its length noted;
   * the summary is asked for and the agent's claims checked (see `after_call/`).
   */
  #afterEnd(
    callSid: string,
    session: RealtimeConnection,
    recording: CallRecording | undefined,
    callLog: Logger,
  ): AfterEndStep {
    const { config, store, metrics } = this.#deps;
    const after = new AfterCall({
      session,
      bookings: () => store.bookingsForCall(callSid),
      profile: () => this.#deps.profile,
      summary: { enabled: config.summary.enabled, timeoutMs: config.summary.timeoutSeconds * 1000 },
      clock: this.#clock,
      now: this.#deps.now ?? (() => Temporal.Now.instant()),
      metrics,
      log: callLog,
    });
    return async (ctx) => {
      await Promise.all([
        after.run(ctx, this.#shutdown.signal),
        recording?.finished.then((info) => ctx.annotate("recording", info)),
      ]);
    };
  }

  /** The tools of one call; with no-op requests it serves to describe them. */
  #tools(
    requests: { requestHangUp(r: string): void; requestTransfer(r: string): void },
    purpose?: CallPurpose,
  ): Tool[] {
    const { profile, store, config, control } = this.#deps;
    const sms = config.smsFrom && control ? { from: config.smsFrom, control } : undefined;
    return [
      ...bookingTools({
        profile,
        store,
        onBooked: sms
          ? (booking: Booking, ctx) => this.#sendConfirmation(sms, booking, ctx.callerNumber)
          : undefined,
      }),
      ...callControlTools({
        requestHangUp: requests.requestHangUp,
        requestTransfer: this.#canTransfer ? requests.requestTransfer : undefined,
      }),
      ...(purpose?.tools ?? []),
    ];
  }

  async #sendConfirmation(
    sms: { from: string; control: ServiceControl },
    booking: Booking,
    callerNumber: string | undefined,
  ): Promise<void> {
    const to = booking.customerPhone.startsWith("+") ? booking.customerPhone : callerNumber;
    if (!to) return;
    const { profile } = this.#deps;
    const body = `${profile.name}: ${booking.serviceName} booked for ${booking.label}. ` +
      `Reference ${booking.id}. ${profile.policies.cancellation}`;
    const call = this.#calls.get(booking.callSid ?? "")?.call;
    try {
      const { sid } = await sms.control.sendSms(to, sms.from, body);
      call?.recordSms({ to, bookingId: booking.id, sid });
    } catch (error) {
      call?.recordSms({ to, bookingId: booking.id, error: errorMessage(error) });
      log.with({ callSid: booking.callSid ?? undefined }).warn(
        "confirmation SMS failed: {error}",
        { error: errorMessage(error) },
      );
    }
  }

  /** A fresh, not yet connected Realtime connection for a call. */
  #newConnection(callSid: string, from: string, purpose?: CallPurpose): RealtimeConnection {
    const { config, profile } = this.#deps;
    const tools = new ToolRegistry(
      this.#tools({ requestHangUp() {}, requestTransfer() {} }, purpose),
      this.#clock,
    );
    const sessionConfig = buildSessionConfig({
      model: config.openai.model,
      voice: config.openai.voice,
      audioFormat: config.audioFormat,
      instructions: purpose?.instructions ?? buildInstructions({
        profile,
        now: this.#deps.now?.() ?? Temporal.Now.instant(),
        callerNumber: callerNumber(from),
        canTransfer: this.#canTransfer,
      }),
      tools: tools.definitions(),
      vad: config.vad,
      transcriptionModel: config.openai.transcriptionModel,
      reasoningEffort: config.openai.reasoningEffort,
    });
    return new RealtimeConnection({
      url: config.openai.realtimeUrl,
      model: config.openai.model,
      apiKey: config.openai.apiKey,
      sessionConfig,
      logger: logger("realtime").with({ callSid }),
      clock: this.#clock,
      webSocketFactory: webSocketFactoryFor(config.openai.webSocketClient),
      ...this.#deps.connectionOptions,
    });
  }

  /**
   * Stops taking calls and lets the active ones finish for up to `drainMs`; then asks
   * each to say goodbye and hang up, and waits up to `goodbyeMs` more before closing
   * whatever is left. Resolves when no call is left.
   */
  async drain(drainMs: number, goodbyeMs = 15_000): Promise<void> {
    this.#draining = true;
    // Summaries of calls still ending must not hold the shutdown beyond the window.
    const stopAfterCall = this.#clock.setTimeout(
      () => this.#shutdown.abort(new Error("shutting down")),
      Math.max(0, drainMs + goodbyeMs - AFTER_CALL_SHUTDOWN_MARGIN_MS),
    );
    try {
      await this.#drainCalls(drainMs, goodbyeMs);
    } finally {
      this.#clock.clearTimeout(stopAfterCall);
    }
  }

  async #drainCalls(drainMs: number, goodbyeMs: number): Promise<void> {
    await this.#prewarm.closeAll();
    if (!(await this.#waitForCalls(drainMs))) {
      log.warn("drain timeout: asking {count} calls to wrap up", { count: this.#calls.size });
      for (const slot of this.#calls.values()) slot.call?.wrapUp();
      await this.#waitForCalls(goodbyeMs);
    }
  }

  async #waitForCalls(ms: number): Promise<boolean> {
    const clock = this.#clock;
    const deadline = clock.now() + ms;
    while (this.#calls.size > 0 && clock.now() < deadline) {
      const pending = [...this.#calls.values()].map((slot) => slot.ended);
      let timer: unknown;
      await Promise.race([
        Promise.all(pending),
        new Promise<void>((r) => {
          timer = clock.setTimeout(r, Math.max(0, deadline - clock.now()));
        }),
      ]);
      clock.clearTimeout(timer);
    }
    return this.#calls.size === 0;
  }
}

/**
 * In-memory fakes of the call's two ports, driven by a {@linkcode VirtualClock}: a Twilio
 * stream that plays audio in virtual real time and echoes marks as Twilio does (after the
 * audio before them has played, and at once on `clear`), and a model session the test
 * scripts event by event. No sockets: a whole call runs in milliseconds.
 *
 * @module
 */
import type { CallerStream, ModelSession, StreamListener } from "../../src/call/ports.ts";
import type {
  BusyPolicy,
  CloseReason,
  ConnectionEvents,
  ConnectionState,
  ConnectionStats,
  ResponseRequest,
} from "../../src/realtime/connection.ts";
import { ConversationLog } from "../../src/realtime/conversation_log.ts";
import type {
  ResponseCreateOptions,
  ServerEvent,
  ServerItem,
} from "../../src/realtime/protocol.ts";
import { ResponseGate } from "../../src/realtime/response_gate.ts";
import { Emitter } from "../../src/events.ts";
import type { VirtualClock } from "../support/virtual_clock.ts";

/** Something the call sent to Twilio, with the virtual time it was sent. */
export type SentToTwilio =
  | { kind: "media"; bytes: number; at: number }
  | { kind: "mark"; name: string; at: number }
  | { kind: "clear"; at: number }
  | { kind: "close"; code?: number; at: number };

/** The Twilio side of one call. */
export class FakeCallerStream implements CallerStream {
  closed = false;
  readonly counters = { fake: true };
  endedBy: string | undefined;
  readonly sent: SentToTwilio[] = [];
  /** Marks echoed back to the call, in order. */
  readonly echoed: string[] = [];
  readonly #clock: VirtualClock;
  #listener: StreamListener | undefined;
  #closedBeforeAttach = false;
  /** Playback segments [start, end) in virtual ms. */
  readonly #segments: { start: number; end: number }[] = [];
  #pendingEchoes: { name: string; timer: unknown }[] = [];

  /** @param echoMarks false: never echo marks (a Twilio that went quiet) */
  constructor(clock: VirtualClock, readonly echoMarks = true) {
    this.#clock = clock;
  }

  /** Whether a listener attached. */
  get attached(): boolean {
    return this.#listener !== undefined;
  }

  attach(listener: StreamListener): void {
    if (this.#listener) throw new Error("attached twice");
    this.#listener = listener;
    if (this.#closedBeforeAttach) {
      listener.stop();
      listener.close(1000, "");
    }
  }

  sendAudio(mulaw: Uint8Array): boolean {
    if (this.closed) return false;
    const now = this.#clock.now();
    this.sent.push({ kind: "media", bytes: mulaw.length, at: now });
    const start = Math.max(now, this.#playEnd());
    this.#segments.push({ start, end: start + mulaw.length / 8 });
    return true;
  }

  sendAudioBase64(mulawBase64: string): boolean {
    return this.sendAudio(Uint8Array.fromBase64(mulawBase64));
  }

  mark(name: string): boolean {
    if (this.closed) return false;
    this.sent.push({ kind: "mark", name, at: this.#clock.now() });
    if (!this.echoMarks) return true;
    const delay = Math.max(0, this.#playEnd() - this.#clock.now());
    const entry = { name, timer: undefined as unknown };
    entry.timer = this.#clock.setTimeout(() => {
      this.#pendingEchoes = this.#pendingEchoes.filter((e) => e !== entry);
      this.#echo(name);
    }, delay);
    this.#pendingEchoes.push(entry);
    return true;
  }

  clear(): boolean {
    if (this.closed) return false;
    const now = this.#clock.now();
    this.sent.push({ kind: "clear", at: now });
    for (const s of this.#segments) {
      if (s.end > now) s.end = Math.max(s.start, now);
    }
    // Twilio echoes every pending mark when a clear flushes the buffer; the echoes come
    // back over the network, after the clear was sent.
    const pending = this.#pendingEchoes;
    this.#pendingEchoes = [];
    for (const e of pending) {
      this.#clock.clearTimeout(e.timer);
      this.#clock.setTimeout(() => this.#echo(e.name), 0);
    }
    return true;
  }

  close(code?: number): void {
    if (this.closed) return;
    this.closed = true;
    this.sent.push({ kind: "close", code, at: this.#clock.now() });
  }

  // ---- what the caller and Twilio do

  /** Agent audio the caller has heard by now, ms. */
  playedMs(): number {
    const now = this.#clock.now();
    return this.#segments.reduce((n, s) => n + Math.max(0, Math.min(s.end, now) - s.start), 0);
  }

  /** The caller speaks (or is silent): `ms` of mu-law frames, delivered at once. */
  say(ms: number): void {
    for (let t = 0; t < ms; t += 20) {
      this.#listener!.media(new Uint8Array(160).fill(0x7f).toBase64(), t);
    }
  }

  /**
   * The caller's audio as Twilio sends it: `mulaw` in 20 ms frames whose timestamps start
   * at `fromMs` (ms since the stream started), delivered at once.
   */
  sayAudio(mulaw: Uint8Array, fromMs: number): void {
    for (let at = 0; at < mulaw.length; at += 160) {
      this.#listener!.media(mulaw.subarray(at, at + 160).toBase64(), fromMs + at / 8);
    }
  }

  /** The caller presses a key. */
  dtmf(digit: string): void {
    this.#listener!.dtmf(digit);
  }

  /** This side ends the stream because of the peer (what TwilioStream does on a flood). */
  endHere(why: string): void {
    this.endedBy = why;
    this.closed = true;
    this.#listener!.close(1008, why);
  }

  /** The caller hangs up (or Twilio ends the stream after a REST request). */
  hangUp(): void {
    if (!this.#listener) {
      this.closed = true;
      this.#closedBeforeAttach = true;
      return;
    }
    this.closed = true;
    this.#listener.stop();
    this.#listener.close(1000, "");
  }

  /** Every outbound kind in order (`media` runs collapsed), for order assertions. */
  kinds(): string[] {
    const out: string[] = [];
    for (const s of this.sent) if (out.at(-1) !== s.kind || s.kind !== "media") out.push(s.kind);
    return out;
  }

  #playEnd(): number {
    return this.#segments.at(-1)?.end ?? 0;
  }

  #echo(name: string): void {
    this.echoed.push(name);
    this.#listener?.mark(name);
  }
}

/** One `response.create` the call sent. */
export interface CreateRequest {
  options: ResponseCreateOptions | undefined;
  policy: BusyPolicy;
  eventId: string;
  at: number;
}

/** The model side of one call, scripted by the test. */
export class FakeModelSession implements ModelSession {
  state: ConnectionState;
  closeReason: CloseReason | undefined;
  readonly stats: ConnectionStats = {
    reconnects: 0,
    rollovers: 0,
    unknownEvents: 0,
    malformedEvents: 0,
    errorEvents: 0,
    droppedAudioChunks: 0,
    droppedAudioMs: 0,
    droppedEvents: 0,
    responsesRequested: 0,
    responsesDeferred: 0,
    responsesDropped: 0,
    responsesRejected: 0,
    responsesExpired: 0,
    responseStalls: 0,
  };
  /** Requests dropped by the gate (a response was in progress). */
  readonly dropped: (ResponseCreateOptions | undefined)[] = [];
  readonly conversation = new ConversationLog();
  /** Caller frames appended. */
  appended = 0;
  /** Bytes the socket has not sent yet (a test sets it). */
  bufferedAmount = 0;
  readonly texts: { role: "user" | "system"; text: string }[] = [];
  readonly outputs: { callId: string; output: unknown }[] = [];
  readonly creates: CreateRequest[] = [];
  readonly truncations: { itemId: string; ms: number; at: number }[] = [];
  readonly #clock: VirtualClock;
  readonly #gate = new ResponseGate();
  readonly #events = new Emitter<ConnectionEvents>((_n, e) => {
    throw e;
  });
  #opened: PromiseWithResolvers<void> | undefined;
  #seq = 0;
  /** Output items of each response so far (for `response.done`). */
  readonly #outputs = new Map<string, ServerItem[]>();

  constructor(clock: VirtualClock, state: ConnectionState = "open") {
    this.#clock = clock;
    this.state = state;
  }

  get responseActive(): boolean {
    return this.#gate.busy;
  }

  on<K extends keyof ConnectionEvents>(
    name: K,
    fn: (...args: ConnectionEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, fn);
  }

  connect(): Promise<void> {
    this.#setState("connecting");
    this.#opened = Promise.withResolvers<void>();
    return this.#opened.promise;
  }

  appendAudio(): void {
    if (this.state !== "closed") this.appended++;
  }

  sendFunctionOutput(callId: string, output: string): boolean {
    this.conversation.functionOutput(callId, output);
    this.outputs.push({ callId, output: JSON.parse(output) });
    return this.state === "open";
  }

  sendUserText(text: string): boolean {
    this.conversation.userText(text);
    this.texts.push({ role: "user", text });
    return this.state === "open";
  }

  sendSystemText(text: string): boolean {
    this.conversation.systemText(text);
    this.texts.push({ role: "system", text });
    return this.state === "open";
  }

  createResponse(options?: ResponseCreateOptions, policy: BusyPolicy = "defer"): ResponseRequest {
    if (this.state !== "open") return "dropped";
    const decision = this.#gate.request(options, policy, `e${++this.#seq}`);
    if (decision.kind === "dropped") {
      this.dropped.push(options);
      return "dropped";
    }
    if (decision.kind === "deferred") return "deferred";
    this.#sent(decision.request);
    return "sent";
  }

  truncate(itemId: string, heardMs: number): number | undefined {
    this.truncations.push({ itemId, ms: heardMs, at: this.#clock.now() });
    this.conversation.truncated(itemId, heardMs);
    return heardMs;
  }

  close(message = "closed by client"): void {
    if (this.state === "closed") return;
    this.closeReason = { kind: "client", message };
    this.#opened?.reject(new Error(message));
    this.#setState("closed");
  }

  // ---- what the server does

  /** The session opens (a pending connect() resolves). */
  open(): void {
    this.#setState("open");
    this.#opened?.resolve();
  }

  /** The socket dropped: the connection is reconnecting (`back()` or `fail()` follows). */
  drop(): void {
    this.#setState("reconnecting");
  }

  /** The reconnection succeeded. */
  back(): void {
    this.#setState("open");
  }

  /** The session is gone for good (retries spent). */
  fail(message = "gave up"): void {
    this.closeReason = { kind: "gave_up", message };
    this.#opened?.reject(new Error(message));
    this.#setState("closed");
  }

  /** Delivers one server event (tracked like the real connection does). */
  emit(e: ServerEvent): void {
    this.conversation.observe(e, 8);
    if (e.type === "response.created") {
      this.#gate.created(e.response.id, e.response.metadata?.request);
    }
    if (e.type === "response.done") {
      const next = this.#gate.done(e.response.id);
      if (next) this.#sent(next);
    }
    this.#events.emit("event", e);
  }

  /** The connection reports that the model went silent while a response was due. */
  stall(): void {
    this.#events.emit("stall", { reason: "silent_response", silentMs: 8000 });
  }

  /** The server refuses our outstanding request with `code`. */
  reject(code: string): void {
    const out = this.#gate.outstanding;
    if (!out) throw new Error("no request is out");
    const outcome = this.#gate.rejected(out.eventId, code);
    if (outcome.kind === "failed" && outcome.next) this.#sent(outcome.next);
    this.emit({
      type: "error",
      error: { type: "invalid_request_error", code, message: code, event_id: out.eventId },
    });
  }

  /**
   * `response.created`: for our outstanding request (its id in the metadata), or with
   * `own: true` a response the server starts by itself (server VAD). Returns the id.
   */
  startResponse(own = false): string {
    const id = `resp_${++this.#seq}`;
    const request = own ? undefined : this.#gate.outstanding?.eventId;
    this.#outputs.set(id, []);
    this.emit({
      type: "response.created",
      response: {
        id,
        status: "in_progress",
        metadata: request === undefined ? undefined : { request },
      },
    });
    return id;
  }

  #sent(request: { eventId: string; options?: ResponseCreateOptions; policy: BusyPolicy }): void {
    this.creates.push({
      options: request.options,
      policy: request.policy,
      eventId: request.eventId,
      at: this.#clock.now(),
    });
  }

  /**
   * Streams `ms` of agent audio for `responseId` as 20 ms deltas, one every `paceMs` of
   * virtual time (0: all at once), with a transcript. Returns the item id.
   */
  async speak(responseId: string, ms: number, transcript = "", paceMs = 0): Promise<string> {
    const itemId = `item_${++this.#seq}`;
    const item = { id: itemId, type: "message", role: "assistant" };
    this.emit({ type: "response.output_item.added", response_id: responseId, item });
    const delta = new Uint8Array(160).fill(0x55).toBase64();
    for (let t = 0; t < ms; t += 20) {
      this.emit({
        type: "response.output_audio.delta",
        response_id: responseId,
        item_id: itemId,
        content_index: 0,
        delta,
      });
      if (paceMs > 0) await this.#clock.advance(paceMs);
    }
    if (transcript) {
      this.emit({
        type: "response.output_audio_transcript.done",
        response_id: responseId,
        item_id: itemId,
        transcript,
      });
    }
    this.emit({ type: "response.output_audio.done", response_id: responseId, item_id: itemId });
    const done = { ...item, status: "completed", content: [{ type: "output_audio", transcript }] };
    this.#outputs.get(responseId)?.push(done);
    this.emit({ type: "response.output_item.done", response_id: responseId, item: done });
    return itemId;
  }

  /** A text-only answer (no audio): what re-injected history can provoke. */
  writeText(responseId: string, text: string): void {
    const item = {
      id: `item_${++this.#seq}`,
      type: "message",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text }],
    };
    this.#outputs.get(responseId)?.push(item);
    this.emit({ type: "response.output_item.done", response_id: responseId, item });
  }

  /**
   * The model calls a function in `responseId`: the arguments event (without `name`, as
   * before 2026-02) and, unless `itemDone` is false, the completed output item.
   */
  callFunction(responseId: string, name: string, args: unknown, itemDone = true): string {
    const callId = `call_${++this.#seq}`;
    const itemId = `item_${++this.#seq}`;
    const argumentsText = JSON.stringify(args);
    this.emit({
      type: "response.function_call_arguments.done",
      response_id: responseId,
      item_id: itemId,
      call_id: callId,
      arguments: argumentsText,
    });
    const item = {
      id: itemId,
      type: "function_call",
      status: "completed",
      call_id: callId,
      name,
      arguments: argumentsText,
    };
    this.#outputs.get(responseId)?.push(item);
    if (itemDone) this.emit({ type: "response.output_item.done", response_id: responseId, item });
    return callId;
  }

  /** `response.done` with a status and the response's output items. */
  finishResponse(responseId: string, status = "completed"): void {
    const output = this.#outputs.get(responseId) ?? [];
    this.#outputs.delete(responseId);
    this.emit({ type: "response.done", response: { id: responseId, status, output } });
  }

  /** A whole spoken response: created, audio, done. */
  async reply(ms: number, transcript = "", paceMs = 0): Promise<string> {
    const id = this.startResponse();
    await this.speak(id, ms, transcript, paceMs);
    this.finishResponse(id);
    return id;
  }

  /** Server VAD: the caller started speaking. */
  speechStarted(): void {
    this.emit({
      type: "input_audio_buffer.speech_started",
      audio_start_ms: this.#clock.now(),
      item_id: `user_${this.#seq + 1}`,
    });
  }

  /** Server VAD: the caller stopped speaking (their item is added and transcribed). */
  speechStopped(transcript?: string): void {
    const itemId = `user_${++this.#seq}`;
    this.emit({
      type: "input_audio_buffer.speech_stopped",
      audio_end_ms: this.#clock.now(),
      item_id: itemId,
    });
    this.emit({
      type: "conversation.item.added",
      item: { id: itemId, type: "message", role: "user", content: [{ type: "input_audio" }] },
    });
    if (transcript !== undefined) {
      this.emit({
        type: "conversation.item.input_audio_transcription.completed",
        item_id: itemId,
        content_index: 0,
        transcript,
      });
    }
  }

  #setState(next: ConnectionState): void {
    const previous = this.state;
    this.state = next;
    if (previous !== next) this.#events.emit("state", next, previous);
  }
}

/**
 * One Twilio media stream over one WebSocket: {@linkcode TwilioStream} turns frames into
 * typed events (the wire schemas and builders live in `protocol.ts`).
 *
 * Hot path: a `media` frame arrives every 20 ms per call. It is read by a scanner
 * (`media_scan.ts`; anything else is parsed in full) and checked by hand (the few fields
 * used); zod validates only the rare events. Its payload stays base64: it is checked with a
 * character scan, counted from its length, and handed on as the string (pass-through audio
 * goes to the model as it came; whoever needs the bytes decodes them). Outbound messages
 * are built by string concatenation (base64 and a validated streamSid need no escaping).
 * Nothing a peer sends can throw out of this module: bad frames are counted, logged
 * (rate-limited) and dropped.
 *
 * Everything a peer sends is bounded (see {@linkcode TwilioStreamOptions}): the inbound
 * audio never runs more than `maxAheadMs` ahead of the wall clock since `start` (so a
 * peer cannot make the model hear, and bill, more audio than time has passed, whatever
 * its timestamps say), each payload is small, timestamps only move forward, frames arrive
 * at a bounded rate, and a stream that stops sending media is ended. A binary frame, an
 * oversized frame or a flood ends the stream at once: Twilio never sends any of them.
 *
 * @module
 */
import { type Logger, logger } from "../log.ts";
import { Emitter } from "../events.ts";
import { type Clock, systemClock, type TimerHandle } from "../clock.ts";
import { MULAW_BYTES_PER_MS, MULAW_FRAME_BYTES, MULAW_SILENCE } from "../codec/mulaw.ts";
import { strictBase64Bytes } from "../codec/base64.ts";
import { scanMediaMessage } from "./media_scan.ts";
import {
  buildClearMessage,
  buildMarkMessage,
  buildMediaMessage,
  ConnectedMessageSchema,
  InboundMessageSchema,
  StartMessageSchema,
  STREAM_SID_PATTERN,
  type StreamStart,
} from "./protocol.ts";

// ---------------------------------------------------------------------------------------------
// TwilioStream

/** One frame of silence, and its base64 (what a gap is filled with). */
const SILENCE = new Uint8Array(MULAW_FRAME_BYTES).fill(MULAW_SILENCE);
const SILENCE_BASE64 = SILENCE.toBase64();

/** Why an inbound frame was dropped. */
export type DropReason =
  | "binary"
  | "oversized"
  | "invalid_json"
  | "unknown_event"
  | "invalid_message"
  | "media_before_start"
  | "wrong_stream_sid"
  | "wrong_track"
  | "invalid_base64"
  | "duplicate_start"
  | "after_stop"
  | "hold_overflow"
  | "handler_error"
  | "payload_too_large"
  | "out_of_order"
  | "ahead_of_time";

/** Why this side ended a stream the peer was still sending on. */
export type StreamEndReason =
  | "binary_frame"
  | "oversized_frame"
  | "rate_limited"
  | "media_timeout";

/** Counters of one stream. */
export interface StreamCounters {
  /** Text and binary frames received. */
  framesIn: number;
  /** Media frames delivered to `onMedia` (including silence fill). */
  mediaIn: number;
  /** Silence frames inserted for timestamp gaps. */
  silenceFramesFilled: number;
  /** Messages sent (media, mark, clear). */
  framesOut: number;
  /** Outbound messages not sent because the socket was not open or the stream not started. */
  outDropped: number;
  /** Dropped inbound frames by reason. */
  dropped: Partial<Record<DropReason, number>>;
  /** Set when this side ended the stream because of what the peer sent (or did not send). */
  endedBy?: StreamEndReason;
}

/**
 * The part of a WebSocket the stream uses; the server-side socket from
 * `Deno.upgradeWebSocket` satisfies it (so do test doubles).
 */
export interface StreamSocket {
  readonly readyState: number;
  binaryType: BinaryType;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
}

/** Options of a {@linkcode TwilioStream}. */
export interface TwilioStreamOptions {
  /** A frame longer than this (characters) ends the stream (1009); default 16 KiB. */
  maxMessageChars?: number;
  /** Largest timestamp gap filled with silence, in ms; default 10 000 (longer gaps are filled up to this). */
  maxGapFillMs?: number;
  /** Most messages held between `start` and {@linkcode TwilioStream.attach}; default 500 (10 s of media). */
  maxHeld?: number;
  /**
   * How far the inbound audio may run ahead of the wall clock since `start`, ms; a frame
   * beyond it is dropped (`ahead_of_time`). Default {@linkcode DEFAULT_MAX_AHEAD_MS}.
   */
  maxAheadMs?: number;
  /** Largest media payload, bytes; larger ones are dropped. Default {@linkcode MAX_PAYLOAD_BYTES}. */
  maxPayloadBytes?: number;
  /**
   * Inbound frames per second (any kind) and the burst allowed on top; past them the
   * stream is ended (1008). Default {@linkcode DEFAULT_RATE_LIMIT}.
   */
  rateLimit?: { perSecond: number; burst: number };
  /** A started stream with no media for this long is ended; ms, 0 = never. Default 10 000. */
  mediaTimeoutMs?: number;
  /** Time source for the bounds above (tests inject a virtual clock). */
  clock?: Clock;
  /** Called with the reason of every dropped frame and every end this side decides (metrics). */
  onProtocolError?: (reason: DropReason | StreamEndReason) => void;
  /** Logger; default category `twilio.media`. */
  log?: Logger;
}

/** Twilio sends 160-byte (20 ms) payloads; twice that leaves room and bounds abuse. */
export const MAX_PAYLOAD_BYTES = 2 * MULAW_FRAME_BYTES;
/** Default of {@linkcode TwilioStreamOptions.maxAheadMs}. */
export const DEFAULT_MAX_AHEAD_MS = 1000;
/**
 * Default of {@linkcode TwilioStreamOptions.rateLimit}: Twilio sends 50 media frames a
 * second plus mark echoes (5 a second while the agent talks, and every pending one at
 * once after a `clear`); a network stall delivers a backlog in one burst.
 */
export const DEFAULT_RATE_LIMIT = { perSecond: 250, burst: 1000 } as const;

/** WebSocket close codes used by the stream. */
export const CloseCode = {
  normal: 1000,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
} as const;

const OPEN = 1;
/** How many drops per stream are logged one by one before only every 1000th is. */
const DROP_LOG_BURST = 20;

/** The one consumer of a started stream (the call), given to {@linkcode TwilioStream.attach}. */
export interface StreamListener {
  /**
   * An inbound frame (or a silence frame filling a gap), in timestamp order: mu-law, as
   * strict base64 (standard alphabet, padded; never empty), decode with `Uint8Array.fromBase64`.
   */
  media(mulawBase64: string, timestampMs: number): void;
  /** Twilio echoed a mark. */
  mark(name: string): void;
  /** The caller pressed a key. */
  dtmf(digit: string): void;
  /** Twilio sent `stop` (hang-up, or the call was redirected). */
  stop(): void;
  /** The socket closed (always the last call). */
  close(code: number, reason: string): void;
}

/** Lifecycle events anyone may watch (the route waits for `start`, times out on `close`). */
export type StreamLifecycle = {
  start: [StreamStart];
  close: [number, string];
};

/**
 * One Twilio media stream. Until `start` arrives only lifecycle events are emitted; from
 * `start` on, every message is held (bounded) until one consumer {@linkcode attach}es, so
 * nothing is lost while the route checks the call token and the manager builds the call,
 * and a caller who hangs up meanwhile is seen by the call as its first events:
 *
 * ```ts
 * declare const req: Request;
 * declare const model: { append(base64Mulaw: string): void };
 * declare const reply: Uint8Array; // mu-law from the model
 * const { socket } = Deno.upgradeWebSocket(req);
 * const stream = new TwilioStream(socket);
 * stream.on("start", (start) => {
 *   stream.attach({ media: (b64) => model.append(b64), mark() {}, dtmf() {}, stop() {}, close() {} });
 * });
 * stream.sendAudio(reply);
 * ```
 */
export class TwilioStream {
  /** Counters (read them, do not modify). */
  readonly counters: StreamCounters = {
    framesIn: 0,
    mediaIn: 0,
    silenceFramesFilled: 0,
    framesOut: 0,
    outDropped: 0,
    dropped: {},
  };

  readonly #socket: StreamSocket;
  readonly #maxChars: number;
  readonly #maxGapMs: number;
  readonly #maxHeld: number;
  readonly #maxAheadMs: number;
  readonly #maxPayloadChars: number;
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #mediaTimeoutMs: number;
  readonly #clock: Clock;
  readonly #onProtocolError: ((reason: DropReason | StreamEndReason) => void) | undefined;
  #log: Logger;
  #streamSid: string | undefined;
  #start: StreamStart | undefined;
  #stopped = false;
  #closed = false;
  /** Messages since `start`, kept until a listener attaches. */
  #held: string[] | undefined;
  #listener: StreamListener | undefined;
  /** The socket's close, kept for a listener that attaches later. */
  #closeEvent: { code: number; reason: string } | undefined;
  readonly #lifecycle: Emitter<StreamLifecycle>;
  /** Media time (ms) the next frame is expected at; -1 before the first frame. */
  #nextTs = -1;
  #dropCount = 0;
  /** Clock time `start` arrived (media time 0, give or take the network). */
  #startedAt = 0;
  /** Rate limit: frames that may still arrive now, and when that was computed. */
  #tokens: number;
  #tokensAt: number;
  /** Clock time of the last media frame (or of `start`). */
  #lastMediaAt = 0;
  #mediaTimer: TimerHandle | undefined;

  /** Wraps `socket` (its `onmessage`/`onclose`/`onerror` are taken over). */
  constructor(socket: StreamSocket, options: TwilioStreamOptions = {}) {
    this.#socket = socket;
    this.#maxChars = options.maxMessageChars ?? 16 * 1024;
    this.#maxGapMs = options.maxGapFillMs ?? 10_000;
    this.#maxHeld = options.maxHeld ?? 500;
    this.#maxAheadMs = options.maxAheadMs ?? DEFAULT_MAX_AHEAD_MS;
    // Base64 length of the largest payload: checked before decoding.
    this.#maxPayloadChars = Math.ceil((options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES) / 3) * 4;
    const rate = options.rateLimit ?? DEFAULT_RATE_LIMIT;
    this.#ratePerMs = rate.perSecond / 1000;
    this.#burst = rate.burst;
    this.#mediaTimeoutMs = options.mediaTimeoutMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    this.#onProtocolError = options.onProtocolError;
    this.#tokens = this.#burst;
    this.#tokensAt = this.#clock.now();
    this.#log = options.log ?? logger("twilio", "media");
    this.#lifecycle = new Emitter((_name, error) => this.#drop("handler_error", { error }));
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev) => this.#onFrame(ev.data);
    socket.onerror = (ev) => {
      const message = ev instanceof ErrorEvent ? ev.message : "socket error";
      this.#log.warn("media socket error: {error}", { error: message });
    };
    socket.onclose = (ev) => this.#onSocketClosed(ev.code, ev.reason);
  }

  /** Watches `start` or `close`; returns the unsubscribe function. */
  on<K extends keyof StreamLifecycle>(
    name: K,
    fn: (...args: StreamLifecycle[K]) => void,
  ): () => void {
    return this.#lifecycle.on(name, fn);
  }

  /**
   * Hands the started stream to its one consumer: the messages held since `start` are
   * delivered now, in order, then the rest as they come; if the socket has closed
   * meanwhile, `close` follows the held messages. Throws when called twice or before `start`.
   */
  attach(listener: StreamListener): void {
    if (this.#listener) throw new Error("the stream already has a listener");
    if (this.#start === undefined) throw new Error("attach() before start");
    this.#listener = listener;
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const data of held) this.#onText(data);
    const closed = this.#closeEvent;
    if (closed) this.#safely(() => listener.close(closed.code, closed.reason));
  }

  /** The stream SID once `start` arrived. */
  get streamSid(): string | undefined {
    return this.#streamSid;
  }

  /** The validated `start` payload once it arrived. */
  get start(): StreamStart | undefined {
    return this.#start;
  }

  /** Why this side ended the stream because of the peer (a flood, no media), if it did. */
  get endedBy(): StreamEndReason | undefined {
    return this.counters.endedBy;
  }

  /** True once the socket closed (or {@linkcode close} was called). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends mu-law audio to the caller. Returns false when it could not be sent. */
  sendAudio(mulaw: Uint8Array): boolean {
    if (mulaw.length === 0) return true;
    return this.sendAudioBase64(mulaw.toBase64());
  }

  /**
   * Sends audio already base64-encoded (e.g. a Realtime `pcmu` delta), without
   * decoding it. The payload must be base64: it is concatenated into the JSON as is.
   */
  sendAudioBase64(payloadBase64: string): boolean {
    const sid = this.#streamSid;
    if (sid === undefined || !this.#open()) return this.#outDrop();
    this.#socket.send(buildMediaMessage(sid, payloadBase64));
    this.counters.framesOut++;
    return true;
  }

  /** Sends a mark; Twilio echoes it once the audio sent before it has played (or is cleared). */
  mark(name: string): boolean {
    const sid = this.#streamSid;
    if (sid === undefined || !this.#open()) return this.#outDrop();
    this.#socket.send(buildMarkMessage(sid, name));
    this.counters.framesOut++;
    return true;
  }

  /** Drops all audio Twilio has buffered for the caller (barge-in); pending marks are echoed. */
  clear(): boolean {
    const sid = this.#streamSid;
    if (sid === undefined || !this.#open()) return this.#outDrop();
    this.#socket.send(buildClearMessage(sid));
    this.counters.framesOut++;
    return true;
  }

  /** Closes the socket (Twilio then runs the TwiML after `</Connect>`). */
  close(code: number = CloseCode.normal, reason = ""): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopMediaWatch();
    try {
      this.#socket.close(code, reason.slice(0, 120));
    } catch (error) {
      this.#log.warn("closing media socket failed: {error}", { error });
    }
  }

  #open(): boolean {
    return !this.#closed && this.#socket.readyState === OPEN;
  }

  #outDrop(): false {
    this.counters.outDropped++;
    return false;
  }

  #onSocketClosed(code: number, reason: string): void {
    this.#closed = true;
    this.#stopMediaWatch();
    if (this.#closeEvent) return;
    this.#closeEvent = { code, reason };
    this.#lifecycle.emit("close", code, reason);
    const listener = this.#listener;
    if (listener) this.#safely(() => listener.close(code, reason));
  }

  #onFrame(data: unknown): void {
    this.counters.framesIn++;
    if (this.#closed) return;
    if (!this.#withinRate()) {
      return this.#end("rate_limited", CloseCode.policy, "rate limit exceeded", {
        perSecond: this.#ratePerMs * 1000,
        burst: this.#burst,
      });
    }
    // Twilio sends only small JSON text frames: anything else is not Twilio. Deno has read
    // the frame already; ending the stream keeps the peer from sending another.
    if (typeof data !== "string") {
      this.#drop("binary");
      return this.#end("binary_frame", CloseCode.unsupportedData, "binary frame");
    }
    if (data.length > this.#maxChars) {
      this.#drop("oversized", { length: data.length });
      return this.#end("oversized_frame", CloseCode.tooBig, "frame too large", {
        length: data.length,
        limit: this.#maxChars,
      });
    }
    if (this.#held) {
      if (this.#held.length >= this.#maxHeld) this.#drop("hold_overflow");
      else this.#held.push(data);
      return;
    }
    this.#onText(data);
  }

  /** Token bucket over every inbound frame. */
  #withinRate(): boolean {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#tokensAt) * this.#ratePerMs);
    this.#tokensAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /**
   * Ends the stream from this side because of the peer: logged, counted, the socket closed
   * with `code`, and the end delivered at once (a peer that misbehaves may never finish
   * the close handshake).
   */
  #end(
    why: StreamEndReason,
    code: number,
    reason: string,
    extra: Record<string, unknown> = {},
  ): void {
    if (this.#closed) return;
    this.counters.endedBy = why;
    this.#onProtocolError?.(why);
    this.#log.warn("ending media stream: {why}", { why, ...extra });
    this.close(code, reason);
    this.#onSocketClosed(code, reason);
  }

  #onText(data: string): void {
    const scanned = scanMediaMessage(data);
    if (scanned !== undefined) {
      const { streamSid, track, timestamp, payload, payloadBytes } = scanned;
      return this.#onMedia(streamSid, track, timestamp, payload, payloadBytes);
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      this.#drop("invalid_json");
      return;
    }
    if (typeof msg !== "object" || msg === null) {
      this.#drop("invalid_json");
      return;
    }
    const event = (msg as { event?: unknown }).event;
    if (event === "media") this.#onMediaMessage(msg as Record<string, unknown>);
    else if (event === "start") this.#onStartMessage(msg);
    else if (event === "connected") this.#onConnected(msg);
    else if (event === "mark") this.#onMark(msg as Record<string, unknown>);
    else if (event === "dtmf" || event === "stop") this.#onEvent(msg);
    else {this.#drop("unknown_event", {
        event: typeof event === "string" ? event.slice(0, 40) : "",
      });}
  }

  /** A parsed `media` message (one the scanner did not take). */
  #onMediaMessage(msg: Record<string, unknown>): void {
    const media = msg.media as Record<string, unknown> | null | undefined;
    if (typeof media !== "object" || media === null) {
      if (this.#streamSid === undefined) return this.#drop("media_before_start");
      if (this.#stopped) return this.#drop("after_stop");
      if (msg.streamSid !== this.#streamSid) return this.#drop("wrong_stream_sid");
      return this.#drop("invalid_message");
    }
    this.#onMedia(msg.streamSid, media.track, media.timestamp, media.payload, -1);
  }

  /**
   * Hand-checked: only the fields used. Full zod here costs more than the rest of the path.
   * `payloadBytes`: the payload's length when the scanner already found it strict base64, else -1.
   */
  #onMedia(
    streamSid: unknown,
    track: unknown,
    timestamp: unknown,
    payload: unknown,
    payloadBytes: number,
  ): void {
    if (this.#streamSid === undefined) return this.#drop("media_before_start");
    if (this.#stopped) return this.#drop("after_stop");
    if (streamSid !== this.#streamSid) return this.#drop("wrong_stream_sid");
    if (typeof payload !== "string" || typeof timestamp !== "string") {
      return this.#drop("invalid_message");
    }
    if (track !== "inbound") return this.#drop("wrong_track");
    const ts = Number(timestamp);
    if (!Number.isSafeInteger(ts) || ts < 0 || timestamp.length > 15) {
      return this.#drop("invalid_message");
    }
    const now = this.#clock.now();
    this.#lastMediaAt = now;
    if (payload.length > this.#maxPayloadChars) {
      return this.#drop("payload_too_large", { length: payload.length });
    }
    // A frame that starts before the audio already delivered ended is a replay or reordering.
    if (this.#nextTs >= 0 && ts < this.#nextTs - 1) return this.#drop("out_of_order", { ts });
    // Twilio's base64 is strict: counted, not decoded. Anything looser that still decodes
    // (whitespace, no padding) is accepted as before and passed on re-encoded.
    let base64 = payload;
    let length = payloadBytes >= 0 ? payloadBytes : strictBase64Bytes(payload);
    if (length < 0) {
      try {
        const bytes = Uint8Array.fromBase64(payload);
        base64 = bytes.toBase64();
        length = bytes.length;
      } catch {
        return this.#drop("invalid_base64");
      }
    }
    if (length === 0) return;
    // Media time may not outrun the wall clock: timestamps are the peer's claim, time is not.
    if (ts + length / MULAW_BYTES_PER_MS > now - this.#startedAt + this.#maxAheadMs) {
      return this.#drop("ahead_of_time", { ts });
    }
    if (this.#nextTs >= 0 && ts > this.#nextTs) this.#fillGap(this.#nextTs, ts);
    const end = ts + length / MULAW_BYTES_PER_MS;
    if (end > this.#nextTs) this.#nextTs = end;
    this.counters.mediaIn++;
    // Inline rather than #safely: no closure per frame on the hot path.
    try {
      this.#listener!.media(base64, ts);
    } catch (error) {
      this.#drop("handler_error", { error });
    }
  }

  /**
   * Mark echoes come back once per outbound chunk (~50/s per call while the agent talks):
   * hand-checked like media, with the same rules {@linkcode MarkMessageSchema} states.
   */
  #onMark(msg: Record<string, unknown>): void {
    const mark = msg.mark as Record<string, unknown> | null | undefined;
    const seq = msg.sequenceNumber;
    if (
      typeof mark !== "object" || mark === null || typeof mark.name !== "string" ||
      typeof seq !== "string" || !/^\d{1,15}$/.test(seq) ||
      typeof msg.streamSid !== "string" || msg.streamSid.length === 0
    ) return this.#drop("invalid_message");
    if (this.#streamSid === undefined) return this.#drop("media_before_start");
    if (msg.streamSid !== this.#streamSid) return this.#drop("wrong_stream_sid");
    if (this.#stopped) return this.#drop("after_stop");
    const name = mark.name;
    this.#safely(() => this.#listener!.mark(name));
  }

  /** Inserts silence from `from` to `to` (ms) so downstream time matches the caller's. */
  #fillGap(from: number, to: number): void {
    let gapMs = to - from;
    if (gapMs > this.#maxGapMs) {
      this.#log.warn("media timestamp jumped {gapMs} ms; filling only {maxMs} ms", {
        gapMs,
        maxMs: this.#maxGapMs,
        callSid: this.#start?.callSid,
      });
      from = to - this.#maxGapMs;
      gapMs = this.#maxGapMs;
    }
    let bytesLeft = Math.round(gapMs * MULAW_BYTES_PER_MS);
    let at = from;
    while (bytesLeft > 0 && !this.#closed) {
      const n = Math.min(bytesLeft, MULAW_FRAME_BYTES);
      const frame = n === MULAW_FRAME_BYTES ? SILENCE_BASE64 : SILENCE.subarray(0, n).toBase64();
      this.counters.mediaIn++;
      this.counters.silenceFramesFilled++;
      const frameTs = at;
      this.#safely(() => this.#listener!.media(frame, frameTs));
      bytesLeft -= n;
      at += n / MULAW_BYTES_PER_MS;
    }
  }

  #onConnected(msg: unknown): void {
    const parsed = ConnectedMessageSchema.safeParse(msg);
    if (!parsed.success) return this.#drop("invalid_message");
    this.#log.debug("media stream connected, protocol {protocol} {version}", parsed.data);
  }

  #onStartMessage(msg: unknown): void {
    if (this.#streamSid !== undefined) return this.#drop("duplicate_start");
    const parsed = StartMessageSchema.safeParse(msg);
    if (!parsed.success) {
      this.#drop("invalid_message");
      this.close(CloseCode.policy, "invalid start message");
      return;
    }
    const { streamSid, start } = parsed.data;
    if (!STREAM_SID_PATTERN.test(streamSid) || start.streamSid !== streamSid) {
      this.#drop("invalid_message");
      this.close(CloseCode.policy, "invalid streamSid in start message");
      return;
    }
    this.#streamSid = streamSid;
    this.#start = { ...start, from: start.customParameters.from };
    this.#log = this.#log.with({ callSid: start.callSid, streamSid });
    this.#held = [];
    this.#startedAt = this.#lastMediaAt = this.#clock.now();
    this.#watchMedia(this.#mediaTimeoutMs);
    this.#lifecycle.emit("start", this.#start);
  }

  #onEvent(msg: unknown): void {
    const parsed = InboundMessageSchema.safeParse(msg);
    if (!parsed.success) return this.#drop("invalid_message");
    const m = parsed.data;
    if (m.event === "connected" || m.event === "start" || m.event === "media") return;
    if (this.#streamSid === undefined) return this.#drop("media_before_start");
    if (m.streamSid !== this.#streamSid) return this.#drop("wrong_stream_sid");
    if (this.#stopped) return this.#drop("after_stop");
    const listener = this.#listener!;
    if (m.event === "dtmf") this.#safely(() => listener.dtmf(m.dtmf.digit));
    else if (m.event === "mark") this.#safely(() => listener.mark(m.mark.name));
    else {
      this.#stopped = true;
      this.#stopMediaWatch();
      this.#log.info("media stream stopped by Twilio");
      this.#safely(() => listener.stop());
    }
  }

  /**
   * Twilio sends a media frame every 20 ms for the whole call, silence included; a started
   * stream without any for `mediaTimeoutMs` is dead, and would hold its call (and a model
   * session) until the maximum call duration.
   */
  #watchMedia(inMs: number): void {
    if (this.#mediaTimeoutMs <= 0 || this.#closed || this.#stopped) return;
    this.#mediaTimer = this.#clock.setTimeout(() => {
      this.#mediaTimer = undefined;
      if (this.#closed || this.#stopped) return;
      // Frames held for a consumer still being built are not looked at yet: wait for it.
      const silentMs = this.#held ? 0 : this.#clock.now() - this.#lastMediaAt;
      if (silentMs < this.#mediaTimeoutMs) return this.#watchMedia(this.#mediaTimeoutMs - silentMs);
      this.#end("media_timeout", CloseCode.normal, "no media", {
        seconds: Math.round(silentMs / 1000),
      });
    }, inMs);
  }

  #stopMediaWatch(): void {
    if (this.#mediaTimer === undefined) return;
    this.#clock.clearTimeout(this.#mediaTimer);
    this.#mediaTimer = undefined;
  }

  /** Runs a consumer callback; its exception is logged, never propagated into the socket. */
  #safely(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#drop("handler_error", { error });
    }
  }

  #drop(reason: DropReason, extra: Record<string, unknown> = {}): void {
    const d = this.counters.dropped;
    d[reason] = (d[reason] ?? 0) + 1;
    this.#dropCount++;
    this.#onProtocolError?.(reason);
    // Every drop is counted; log lines are capped so a misbehaving peer cannot flood the log.
    if (this.#dropCount <= DROP_LOG_BURST || this.#dropCount % 1000 === 0) {
      this.#log.warn("dropped media stream frame: {reason} ({total} dropped so far)", {
        reason,
        total: this.#dropCount,
        ...extra,
      });
    }
  }
}

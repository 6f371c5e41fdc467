/**
 * One call's connection to the OpenAI Realtime API (GA).
 *
 * It opens and configures the session (`handshake.ts`), parses server events once and
 * emits them, and keeps the conversation so far. When the socket drops mid-call it
 * reconnects with exponential backoff and jitter, re-sends the configuration and
 * re-injects the conversation; audio appended meanwhile is buffered (bounded, oldest
 * dropped with a count). Before the session's 60-minute limit it prepares a fresh
 * session, waits for a quiet moment and swaps over the same way. Responses go one at a
 * time through a {@linkcode ResponseGate}.
 *
 * States: `idle` → `connecting` → `open` ⇄ `reconnecting` → `closed`; the open state owns
 * the live socket.
 *
 * @example
 * ```ts
 * import { RealtimeConnection } from "./connection.ts";
 * import { buildSessionConfig } from "./session_config.ts";
 * const conn = new RealtimeConnection({
 *   url: "wss://api.openai.com/v1/realtime",
 *   model: "gpt-realtime-2.1",
 *   apiKey: "sk-...",
 *   sessionConfig: buildSessionConfig({
 *     model: "gpt-realtime-2.1",
 *     voice: "marin",
 *     audioFormat: "pcmu",
 *     instructions: "You are the receptionist.",
 *     tools: [],
 *     vad: { type: "server_vad", threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500 },
 *   }),
 * });
 * conn.on("event", (e) => {
 *   if (e.type === "response.output_audio.delta") console.log(e.delta.length);
 * });
 * await conn.connect();
 * conn.appendAudio("//////////8=");
 * ```
 *
 * @module
 */
import { type Logger, logger as baseLogger } from "../log.ts";
import { type Clock, sleep, systemClock, TimerGroup, type TimerHandle } from "../clock.ts";
import { Emitter } from "../events.ts";
import { errorMessage } from "../errors.ts";
import { ConversationLog } from "./conversation_log.ts";
import { DEFAULT_WEBSOCKET_CLIENT, webSocketFactoryFor } from "./node_ws.ts";
import {
  closeQuietly,
  closeReasonCode,
  detach,
  FATAL_ERROR_CODES,
  isFatalError,
  type LiveSession,
  openSession,
  RealtimeConnectError,
  type WebSocketFactory,
  withModel,
} from "./handshake.ts";
import {
  appendAudio,
  type ConversationItemInput,
  createItem,
  type ErrorEvent,
  functionCallOutput,
  parseServerEvent,
  responseCreate,
  type ResponseCreateOptions,
  type ServerEvent,
  systemText,
  truncate,
  userText,
} from "./protocol.ts";
import {
  type BusyPolicy,
  ResponseGate,
  type ResponseRequest as GateRequest,
} from "./response_gate.ts";
import {
  base64Bytes,
  bytesPerMs,
  inputFormatOf,
  outputFormatOf,
  type SessionConfig,
} from "./session_config.ts";

export { isFatalError, RealtimeConnectError, type WebSocketFactory };

/** Lifecycle state of a {@linkcode RealtimeConnection}. */
export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Reconnection policy: exponential backoff with jitter, bounded in attempts and time. */
export interface BackoffOptions {
  /** Delay before the first retry, ms. */
  initialMs: number;
  /** Cap of a single delay, ms. */
  maxMs: number;
  /** Attempts per (re)connection episode. */
  maxAttempts: number;
  /** Give up when the episode would last longer than this, ms. */
  maxTotalMs: number;
}

/** Options of {@linkcode RealtimeConnection}. */
export interface RealtimeConnectionOptions {
  /** Endpoint, e.g. `wss://api.openai.com/v1/realtime` (the model query is added). */
  url: string;
  model: string;
  apiKey: string;
  sessionConfig: SessionConfig;
  /** Logger; attach call context with `.with({ callSid })`. */
  logger?: Logger;
  backoff?: Partial<BackoffOptions>;
  /** Input audio kept while (re)connecting, ms; older audio is dropped. Default 2000. */
  maxBufferedAudioMs?: number;
  /** Time allowed for one attempt to open and configure a session, ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Start the fresh session this long before `expires_at`, ms. Default 120000. */
  expiryMarginMs?: number;
  /** At rollover, wait at most this long for no response and no speech, ms. Default 20000. */
  rolloverQuietWaitMs?: number;
  /** Most conversation entries re-injected into a fresh session. Default 200. */
  maxReinjectItems?: number;
  /** A `response.create` with no `response.created` by then is forgotten, ms. Default 5000. */
  responseStartTimeoutMs?: number;
  /** A response (ours or the server's) with no server event for this long stalls, ms. Default 8000. */
  responseStallMs?: number;
  /** Supplies the conversation to re-inject instead of the connection's own record. */
  contextProvider?: () => ConversationItemInput[];
  /** Time and timers (default: the system clock). */
  clock?: Clock;
  /** Random source in [0, 1) for jitter. */
  random?: () => number;
  /** Opens the model socket; default npm `ws` (TCP_NODELAY on; see `node_ws.ts`). */
  webSocketFactory?: WebSocketFactory;
}

/** Why a connection reached `closed`. */
export interface CloseReason {
  /** `client`: close() was called; `fatal`: auth/model/config error; `gave_up`: retries spent. */
  kind: "client" | "fatal" | "gave_up";
  message: string;
  code?: string;
}

/** A (new) model session became active. Item ids of earlier sessions are no longer valid. */
export interface SessionStart {
  reason: "initial" | "reconnect" | "rollover";
  sessionId: string | undefined;
  /** Unix ms at which the server ends this session, if it said. */
  expiresAtMs: number | undefined;
}

/** Counters for metrics and tests. */
export interface ConnectionStats {
  /** Successful reconnections after a drop. */
  reconnects: number;
  /** Proactive swaps to a fresh session before expiry. */
  rollovers: number;
  /** Server events of a type this service does not consume (ignored). */
  unknownEvents: number;
  /** Server events that failed validation (logged, ignored). */
  malformedEvents: number;
  /** `error` events received. */
  errorEvents: number;
  /** Audio chunks dropped because the buffer was full while (re)connecting. */
  droppedAudioChunks: number;
  /** Milliseconds of audio dropped that way. */
  droppedAudioMs: number;
  /** Non-audio client events dropped because no session was open. */
  droppedEvents: number;
  /** `response.create` requests sent. */
  responsesRequested: number;
  /** Requests that waited for a response in progress (including after a refusal). */
  responsesDeferred: number;
  /** Requests dropped as obsolete (a response was in progress). */
  responsesDropped: number;
  /** Requests the server refused for another reason. */
  responsesRejected: number;
  /** Requests with no `response.created` by their deadline. */
  responsesExpired: number;
  /** Responses that went silent (no server event while one was due). */
  responseStalls: number;
}

/** Result of {@linkcode RealtimeConnection.createResponse}. */
export type ResponseRequest = "sent" | "deferred" | "dropped";

export type { BusyPolicy };

/** What became of a response request, for metrics and logs. */
export type ResponseRequestOutcome =
  | "sent"
  | "deferred"
  | "dropped"
  | "rejected"
  | "expired"
  | "retried";

/** Why a response stalled. */
export interface ResponseStall {
  reason: "no_response_created" | "silent_response";
  /** How long the model has been silent, ms. */
  silentMs: number;
}

/** What a connection emits. */
export type ConnectionEvents = {
  /** A parsed server event of the active session. */
  event: [ServerEvent];
  /** The state changed: `(state, previous)`. */
  state: [ConnectionState, ConnectionState];
  /** A session became active (initial, after reconnect, after rollover). */
  session: [SessionStart];
  /** A response request was sent, deferred, dropped, refused, expired or retried. */
  request: [ResponseRequestOutcome];
  /** The model stopped answering while a response was due: the session is not usable. */
  stall: [ResponseStall];
};

/** The lifecycle; the open state owns its socket. */
type Phase =
  | { name: "idle" }
  | { name: "connecting" }
  | { name: "open"; live: LiveSession }
  | { name: "reconnecting" }
  | { name: "closed"; reason: CloseReason };

const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 250,
  maxMs: 5000,
  maxAttempts: 6,
  maxTotalMs: 20000,
};

/**
 * Delay before retry number `attempt` (1-based): exponential, capped, with "equal jitter"
 * (half fixed, half random) so many calls dropped together do not retry in lockstep.
 */
export function backoffDelay(attempt: number, b: BackoffOptions, random: () => number): number {
  const exp = Math.min(b.maxMs, b.initialMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** One call's Realtime connection. See the module documentation. */
export class RealtimeConnection {
  readonly #opts: RealtimeConnectionOptions;
  readonly #log: Logger;
  readonly #backoff: BackoffOptions;
  readonly #clock: Clock;
  readonly #timers: TimerGroup;
  readonly #random: () => number;
  readonly #factory: WebSocketFactory;
  readonly #inputBytesPerMs: number;
  readonly #outputBytesPerMs: number;
  readonly #maxBufferedMs: number;
  readonly #events: Emitter<ConnectionEvents>;
  /** Aborted by close(): ends handshakes and backoff sleeps in flight. */
  readonly #lifetime = new AbortController();

  #phase: Phase = { name: "idle" };
  #rollingOver = false;
  #expiryTimer: TimerHandle | undefined;
  readonly #buffer: string[] = [];
  #bufferedMs = 0;
  readonly #gate = new ResponseGate();
  /**
   * Out-of-band responses (`conversation: "none"`) in progress, by id. They run beside the
   * conversation's response and write nothing to it, so neither the gate nor the record
   * follows them.
   */
  #outOfBand = new Set<string>();
  #userSpeaking = false;
  #quietWaiter: (() => void) | undefined;
  /** Audio ms received per assistant item of the current session. */
  #itemAudioMs = new Map<string, number>();

  readonly #record = new ConversationLog();
  readonly #stats: ConnectionStats = {
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
  /** Client event ids: a counter, and the type of the recent ones (to name refused events). */
  #eventSeq = 0;
  readonly #recentEvents = new Map<string, string>();
  /** When the last server event arrived (clock ms), and the stall timer that checks it. */
  #lastServerEventAt = 0;
  #stallTimer: TimerHandle | undefined;
  readonly #unknownTypesLogged = new Set<string>();

  /** Creates the connection; nothing happens until {@linkcode connect}. */
  constructor(opts: RealtimeConnectionOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? baseLogger("realtime");
    this.#backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.#clock = opts.clock ?? systemClock;
    this.#timers = new TimerGroup(
      this.#clock,
      (error) => this.#log.error("realtime timer failed: {error}", { error: errorMessage(error) }),
    );
    this.#random = opts.random ?? Math.random;
    this.#factory = opts.webSocketFactory ?? webSocketFactoryFor(DEFAULT_WEBSOCKET_CLIENT);
    this.#inputBytesPerMs = bytesPerMs(inputFormatOf(opts.sessionConfig));
    this.#outputBytesPerMs = bytesPerMs(outputFormatOf(opts.sessionConfig));
    this.#maxBufferedMs = opts.maxBufferedAudioMs ?? 2000;
    this.#events = new Emitter((name, error) =>
      this.#log.error("realtime listener of {name} threw: {error}", {
        name: String(name),
        error: errorMessage(error),
      })
    );
  }

  /** Current state. */
  get state(): ConnectionState {
    return this.#phase.name;
  }

  /** Why the connection closed (undefined until `closed`). */
  get closeReason(): CloseReason | undefined {
    return this.#phase.name === "closed" ? this.#phase.reason : undefined;
  }

  /** Counters (a live object; copy it to snapshot). */
  get stats(): Readonly<ConnectionStats> {
    return this.#stats;
  }

  /** The connection's own record of the conversation. */
  get conversation(): ConversationLog {
    return this.#record;
  }

  /** Bytes queued in the open socket and not yet sent (0 while none is open). */
  get bufferedAmount(): number {
    return this.#phase.name === "open" ? this.#phase.live.ws.bufferedAmount : 0;
  }

  /** Whether a model response is in progress or requested (until its response.done). */
  get responseActive(): boolean {
    return this.#gate.busy;
  }

  /** The current session's id, if open. */
  get sessionId(): string | undefined {
    return this.#phase.name === "open" ? this.#phase.live.sessionId : undefined;
  }

  /** Subscribes to `event`, `state` or `session`; returns the unsubscribe function. */
  on<K extends keyof ConnectionEvents>(
    name: K,
    fn: (...args: ConnectionEvents[K]) => void,
  ): () => void {
    return this.#events.on(name, fn);
  }

  /**
   * Opens and configures the session (retrying with backoff). Resolves once the server
   * confirmed the configuration; rejects with {@linkcode RealtimeConnectError} when it
   * cannot (state is then `closed`).
   */
  async connect(): Promise<void> {
    if (this.#phase.name !== "idle") {
      throw new Error(`connect() called in state ${this.#phase.name}`);
    }
    this.#setPhase({ name: "connecting" });
    const live = await this.#establish("connecting");
    if (live === undefined) {
      const r = this.closeReason ?? { kind: "client", message: "closed" };
      throw new RealtimeConnectError(r.message, r.kind === "fatal", r.code);
    }
    this.#activate(live, "initial");
  }

  /**
   * Appends caller audio (base64 in the session's input format). While (re)connecting it
   * is buffered up to `maxBufferedAudioMs`, oldest first out; after close it is ignored.
   */
  appendAudio(base64: string): void {
    const phase = this.#phase;
    if (phase.name === "open") {
      phase.live.ws.send(appendAudio(base64, `a${++this.#eventSeq}`));
      return;
    }
    if (phase.name === "closed") return;
    const ms = this.#chunkMs(base64);
    this.#buffer.push(base64);
    this.#bufferedMs += ms;
    while (this.#bufferedMs > this.#maxBufferedMs && this.#buffer.length > 0) {
      const droppedMs = this.#chunkMs(this.#buffer.shift()!);
      this.#bufferedMs -= droppedMs;
      this.#stats.droppedAudioChunks++;
      this.#stats.droppedAudioMs += droppedMs;
    }
  }

  /**
   * Sends a client event built with the protocol builders. Returns false (and counts it)
   * when no session is open: such events are not queued, the record covers what matters.
   */
  send(text: string): boolean {
    const phase = this.#phase;
    if (phase.name !== "open") {
      this.#stats.droppedEvents++;
      this.#log.debug("dropped client event while not open", { state: phase.name });
      return false;
    }
    phase.live.ws.send(text);
    return true;
  }

  /** Sends a tool result and records it (re-injected after a reconnect). */
  sendFunctionOutput(callId: string, output: string): boolean {
    this.#record.functionOutput(callId, output);
    return this.send(functionCallOutput(callId, output, this.#eventId("conversation.item.create")));
  }

  /** Sends a user text message and records it. */
  sendUserText(text: string): boolean {
    this.#record.userText(text);
    return this.send(userText(text, this.#eventId("conversation.item.create")));
  }

  /** Sends a system text message and records it. */
  sendSystemText(text: string): boolean {
    this.#record.systemText(text);
    return this.send(systemText(text, this.#eventId("conversation.item.create")));
  }

  /**
   * Asks for a response. While one is in progress, `defer` (default) sends it once that one
   * is done (the latest deferred request wins) and `drop` forgets it; without an open
   * session it is dropped. Per-response `instructions` come after the session's own (the
   * server would otherwise replace them for this response).
   */
  createResponse(opts?: ResponseCreateOptions, policy: BusyPolicy = "defer"): ResponseRequest {
    if (this.#phase.name !== "open") {
      this.#stats.droppedEvents++;
      return "dropped";
    }
    const decision = this.#gate.request(opts, policy, this.#eventId("response.create"));
    if (decision.kind === "deferred") {
      this.#stats.responsesDeferred++;
      this.#events.emit("request", "deferred");
      return "deferred";
    }
    if (decision.kind === "dropped") {
      this.#stats.responsesDropped++;
      this.#events.emit("request", "dropped");
      return "dropped";
    }
    this.#sendRequest(decision.request, "sent");
    return "sent";
  }

  /**
   * Truncates an assistant item to what the caller heard, clamped to the audio received
   * for it (the server rejects more). Items of an earlier session are only recorded.
   * Returns the ms actually sent, or undefined when nothing was sent.
   */
  truncate(itemId: string, heardMs: number): number | undefined {
    const received = this.#itemAudioMs.get(itemId);
    if (received === undefined || this.#phase.name !== "open") return undefined;
    // The record changes when the server confirms (`conversation.item.truncated`).
    const ms = Math.max(0, Math.min(Math.floor(heardMs), received));
    this.send(truncate(itemId, ms, this.#eventId("conversation.item.truncate")));
    return ms;
  }

  /** Audio ms received so far for an assistant item of the current session (0 if unknown). */
  itemAudioMs(itemId: string): number {
    return this.#itemAudioMs.get(itemId) ?? 0;
  }

  /** Closes for good (idempotent). Pending waits end; timers are cleared. */
  close(message = "closed by client"): void {
    this.#finish({ kind: "client", message });
  }

  /** A fresh client event id; the recent ones are remembered with their type. */
  #eventId(type: string): string {
    const id = `e${++this.#eventSeq}`;
    this.#recentEvents.set(id, type);
    if (this.#recentEvents.size > 64) {
      this.#recentEvents.delete(this.#recentEvents.keys().next().value!);
    }
    return id;
  }

  /** Sends a request the gate let through, tagged so the server's answer can be matched. */
  #sendRequest(request: GateRequest, outcome: "sent" | "retried"): void {
    const opts = request.options;
    const session = this.#opts.sessionConfig.instructions;
    const response: ResponseCreateOptions = {
      ...opts,
      ...(opts?.instructions !== undefined
        ? { instructions: `${session}\n\nFor this reply only: ${opts.instructions}` }
        : {}),
      metadata: { ...opts?.metadata, request: request.eventId },
    };
    this.send(responseCreate(response, request.eventId));
    this.#stats.responsesRequested++;
    this.#events.emit("request", outcome);
    this.#timers.after(this.#opts.responseStartTimeoutMs ?? 5000, () => {
      if (!this.#gate.expired(request.eventId)) return;
      this.#stats.responsesExpired++;
      this.#events.emit("request", "expired");
      this.#log.warn("no response.created for request {eventId}; forgetting it", {
        eventId: request.eventId,
      });
      this.#stall("no_response_created");
    });
    this.#watchForStall();
  }

  /** While a response is due, checks that the server keeps talking. */
  #watchForStall(): void {
    if (this.#stallTimer !== undefined) return;
    const stallMs = this.#opts.responseStallMs ?? 8000;
    const check = () => {
      this.#stallTimer = undefined;
      if (!this.#gate.busy || this.#phase.name !== "open") return;
      const silentMs = this.#clock.now() - this.#lastServerEventAt;
      if (silentMs >= stallMs) this.#stall("silent_response");
      else this.#stallTimer = this.#timers.after(stallMs - silentMs, check);
    };
    this.#lastServerEventAt = Math.max(this.#lastServerEventAt, this.#clock.now());
    this.#stallTimer = this.#timers.after(stallMs, check);
  }

  #stall(reason: ResponseStall["reason"]): void {
    if (this.#phase.name !== "open") return;
    const silentMs = Math.round(this.#clock.now() - this.#lastServerEventAt);
    this.#stats.responseStalls++;
    this.#log.error("the model stopped answering ({reason}, silent {silentMs} ms)", {
      reason,
      silentMs,
    });
    this.#events.emit("stall", { reason, silentMs });
  }

  // -------------------------------------------------------------------------------------

  #setPhase(next: Phase): void {
    const prev = this.#phase.name;
    this.#phase = next;
    if (prev === next.name) return;
    this.#log.info("realtime connection state {state}", { state: next.name, previous: prev });
    this.#events.emit("state", next.name, prev);
  }

  #finish(reason: CloseReason): void {
    const phase = this.#phase;
    if (phase.name === "closed") return;
    if (reason.kind === "fatal") {
      this.#log.error("realtime session ended by fatal error: {message}", {
        message: reason.message,
        code: reason.code,
      });
    } else if (reason.kind === "gave_up") {
      this.#log.error("realtime reconnection gave up: {message}", { message: reason.message });
    }
    this.#timers.clearAll();
    this.#lifetime.abort();
    if (phase.name === "open") {
      detach(phase.live.ws);
      closeQuietly(phase.live.ws);
    }
    this.#buffer.length = 0;
    this.#bufferedMs = 0;
    this.#quietWaiter?.();
    this.#setPhase({ name: "closed", reason });
  }

  #handshake(): Promise<LiveSession> {
    return openSession({
      url: withModel(this.#opts.url, this.#opts.model),
      apiKey: this.#opts.apiKey,
      sessionConfig: this.#opts.sessionConfig,
      factory: this.#factory,
      clock: this.#clock,
      timeoutMs: this.#opts.connectTimeoutMs ?? 10000,
      signal: this.#lifetime.signal,
      onError: (e) => {
        this.#stats.errorEvents++;
        this.#logError(e, "session.update");
      },
    });
  }

  /**
   * Tries to open a configured session with backoff. Returns undefined when it gave up or
   * hit a fatal error (the connection is then closed) or was closed meanwhile.
   */
  async #establish(phase: "connecting" | "reconnecting"): Promise<LiveSession | undefined> {
    const started = this.#clock.now();
    let last = "";
    for (let attempt = 1; attempt <= this.#backoff.maxAttempts; attempt++) {
      // A first connect tries at once; after a drop even the first retry waits (jittered),
      // so calls dropped together by an outage do not reconnect in lockstep.
      const retry = phase === "connecting" ? attempt - 1 : attempt;
      if (retry > 0) {
        const delay = backoffDelay(retry, this.#backoff, this.#random);
        if (this.#clock.now() - started + delay > this.#backoff.maxTotalMs) break;
        try {
          await sleep(this.#clock, delay, this.#lifetime.signal);
        } catch {
          return undefined; // closed while waiting
        }
      }
      if (this.#phase.name !== phase) return undefined;
      try {
        const live = await this.#handshake();
        if (this.#phase.name !== phase) {
          closeQuietly(live.ws);
          return undefined;
        }
        return live;
      } catch (err) {
        if (this.#lifetime.signal.aborted) return undefined; // closed meanwhile
        const e = err instanceof RealtimeConnectError
          ? err
          : new RealtimeConnectError(String(err), false);
        if (e.fatal) {
          this.#finish({ kind: "fatal", message: e.message, code: e.code });
          return undefined;
        }
        last = e.message;
        this.#log.warn("realtime connect attempt {attempt} failed: {message}", {
          attempt,
          message: e.message,
          phase,
        });
      }
    }
    this.#finish({
      kind: "gave_up",
      message: `no session after ${this.#backoff.maxAttempts} attempts / ${
        Math.round(this.#clock.now() - started)
      } ms (last: ${last})`,
    });
    return undefined;
  }

  /** Makes a configured socket the active one and restores the conversation. */
  #activate(live: LiveSession, reason: SessionStart["reason"]): void {
    const old = this.#phase.name === "open" ? this.#phase.live : undefined;
    if (old) {
      detach(old.ws);
      closeQuietly(old.ws);
    }
    this.#itemAudioMs = new Map();
    this.#gate.reset();
    this.#outOfBand.clear();
    this.#userSpeaking = false;
    const ws = live.ws;
    ws.onmessage = (m: MessageEvent) => this.#onMessage(m);
    ws.onclose = (c: CloseEvent) => this.#onDrop(ws, c);
    ws.onerror = () => {/* a close event follows */};

    if (reason !== "initial") {
      const items = this.#opts.contextProvider?.() ??
        this.#record.toContextItems(this.#opts.maxReinjectItems ?? 200);
      for (const item of items) {
        ws.send(createItem(item, undefined, this.#eventId("conversation.item.create")));
      }
      this.#log.info("re-injected {count} conversation items after {reason}", {
        count: items.length,
        reason,
      });
    }
    const buffered = this.#buffer.length;
    for (const chunk of this.#buffer) ws.send(appendAudio(chunk));
    this.#buffer.length = 0;
    this.#bufferedMs = 0;
    this.#scheduleExpiry(live.expiresAtMs);
    this.#setPhase({ name: "open", live });
    if (reason === "reconnect") {
      this.#stats.reconnects++;
      const last = this.#opts.contextProvider ? "none" : this.#record.lastKind();
      // The caller is waiting for an answer: let the model continue.
      if (last === "user" || last === "function_output") this.createResponse();
    } else if (reason === "rollover") this.#stats.rollovers++;
    this.#log.info("realtime session active ({reason})", {
      reason,
      sessionId: live.sessionId,
      bufferedChunksFlushed: buffered,
    });
    this.#events.emit("session", {
      reason,
      sessionId: live.sessionId,
      expiresAtMs: live.expiresAtMs,
    });
  }

  #onDrop(ws: WebSocket, c: CloseEvent): void {
    const phase = this.#phase;
    if (phase.name !== "open" || phase.live.ws !== ws) return;
    detach(ws);
    const code = closeReasonCode(c.reason);
    if (code !== undefined && FATAL_ERROR_CODES.has(code)) {
      this.#finish({ kind: "fatal", message: `socket closed: ${c.reason}`, code });
      return;
    }
    this.#log.warn("realtime socket dropped ({code} {reason}); reconnecting", {
      code: c.code,
      reason: c.reason,
    });
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    this.#setPhase({ name: "reconnecting" });
    const live = await this.#establish("reconnecting");
    if (live !== undefined) this.#activate(live, "reconnect");
  }

  #scheduleExpiry(expiresAtMs: number | undefined): void {
    this.#timers.clear(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (expiresAtMs === undefined) return;
    const margin = this.#opts.expiryMarginMs ?? 120_000;
    this.#expiryTimer = this.#timers.after(expiresAtMs - margin - this.#clock.wallNow(), () => {
      this.#rollover().catch((err) =>
        this.#log.error("rollover failed: {error}", { error: String(err) })
      );
    });
  }

  /** Prepares a fresh session before expiry and swaps to it at a quiet moment. */
  async #rollover(): Promise<void> {
    if (this.#phase.name !== "open" || this.#rollingOver) return;
    this.#rollingOver = true;
    try {
      this.#log.info("session nears its time limit; starting a fresh one");
      let next: LiveSession;
      try {
        next = await this.#handshake();
      } catch (err) {
        // The old session still works; if it ends, the reconnect path takes over.
        this.#log.warn("could not open the fresh session: {message}", {
          message: errorMessage(err),
        });
        if (this.#phase.name === "open") {
          this.#timers.after(backoffDelay(3, this.#backoff, this.#random), () => {
            this.#rollover().catch(() => {});
          });
        }
        return;
      }
      await this.#waitQuiet(this.#opts.rolloverQuietWaitMs ?? 20_000);
      if (this.#phase.name !== "open") {
        closeQuietly(next.ws);
        return;
      }
      this.#activate(next, "rollover");
    } finally {
      this.#rollingOver = false;
    }
  }

  /** Resolves when no response is active and the caller is not speaking, or on timeout. */
  #waitQuiet(maxMs: number): Promise<void> {
    if (!this.#gate.busy && !this.#userSpeaking) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#quietWaiter = undefined;
        this.#timers.clear(timer);
        resolve();
      };
      const timer = this.#timers.after(maxMs, done);
      this.#quietWaiter = done;
    });
  }

  #onMessage(m: MessageEvent): void {
    if (typeof m.data !== "string") {
      this.#stats.malformedEvents++;
      this.#log.warn("ignored a binary frame from the Realtime server");
      return;
    }
    const parsed = parseServerEvent(m.data);
    if (!parsed.ok) {
      if (parsed.reason === "unknown_type") {
        this.#stats.unknownEvents++;
        if (!this.#unknownTypesLogged.has(parsed.type!)) {
          this.#unknownTypesLogged.add(parsed.type!);
          this.#log.debug("ignoring unknown Realtime event type {type}", { type: parsed.type });
        }
      } else {
        this.#stats.malformedEvents++;
        this.#log.warn("malformed Realtime event ({type}): {message}", {
          type: parsed.type ?? "?",
          message: parsed.message,
        });
      }
      return;
    }
    const e = parsed.event;
    this.#lastServerEventAt = this.#clock.now();
    this.#track(e);
    this.#events.emit("event", e);
    if (e.type === "error" && isFatalError(e.error)) {
      this.#finish({ kind: "fatal", message: e.error.message, code: e.error.code ?? undefined });
    }
    if (this.#quietWaiter && !this.#gate.busy && !this.#userSpeaking) this.#quietWaiter();
  }

  /** Keeps response/speech state and the conversation record up to date. */
  #track(e: ServerEvent): void {
    if (e.type === "response.output_audio.delta") {
      if (this.#outOfBand.size > 0 && this.#outOfBand.has(e.response_id)) return;
      // The most frequent event: its length measured once, for the record and the truncation.
      const ms = base64Bytes(e.delta) / this.#outputBytesPerMs;
      this.#record.assistantAudio(e.item_id, ms);
      this.#itemAudioMs.set(e.item_id, (this.#itemAudioMs.get(e.item_id) ?? 0) + ms);
      return;
    }
    if (this.#isOutOfBand(e)) return;
    this.#record.observe(e, this.#outputBytesPerMs);
    switch (e.type) {
      case "response.created":
        this.#gate.created(e.response.id, e.response.metadata?.request);
        this.#watchForStall();
        break;
      case "response.done": {
        const next = this.#gate.done(e.response.id);
        if (next) this.#sendRequest(next, "retried");
        break;
      }
      case "input_audio_buffer.speech_started":
        this.#userSpeaking = true;
        break;
      case "input_audio_buffer.speech_stopped":
        this.#userSpeaking = false;
        break;
      case "error":
        this.#stats.errorEvents++;
        this.#onError(e);
        break;
    }
  }

  /**
   * Whether `e` belongs to an out-of-band response: one whose `response.created` says
   * `conversation_id: null`, until its `response.done`.
   */
  #isOutOfBand(e: ServerEvent): boolean {
    if (e.type === "response.created") {
      if (e.response.conversation_id !== null || e.response.id === undefined) return false;
      this.#outOfBand.add(e.response.id);
      return true;
    }
    if (this.#outOfBand.size === 0) return false;
    if (e.type === "response.done") {
      return e.response.id !== undefined && this.#outOfBand.delete(e.response.id);
    }
    return "response_id" in e && typeof e.response_id === "string" &&
      this.#outOfBand.has(e.response_id);
  }

  /** Logs an error, naming the client event it refers to, and reconciles a refused request. */
  #onError(e: ErrorEvent): void {
    const eventId = e.error.event_id ?? undefined;
    if (eventId !== undefined) {
      const outcome = this.#gate.rejected(
        eventId,
        e.error.code ?? undefined,
        e.error.type === "server_error",
      );
      if (outcome.kind === "waiting" || outcome.kind === "dropped") {
        // The server's own response got there first: not an error, just a race.
        if (outcome.kind === "waiting") this.#stats.responsesDeferred++;
        else this.#stats.responsesDropped++;
        this.#events.emit("request", outcome.kind === "waiting" ? "deferred" : "dropped");
        this.#log.info("response request {eventId} met the server's own response: {what}", {
          eventId,
          what: outcome.kind === "waiting" ? "sent after it" : "dropped",
        });
        return;
      }
      if (outcome.kind === "failed") {
        this.#stats.responsesRejected++;
        this.#events.emit("request", "rejected");
        this.#logError(e, "response.create");
        if (outcome.next) this.#sendRequest(outcome.next, "retried");
        else if (outcome.retry) {
          // A transient refusal: the turn is still wanted; ask once more, as a new event.
          const r = outcome.retry;
          const again = this.#gate.request(
            r.options,
            r.policy,
            this.#eventId("response.create"),
            r.attempt + 1,
          );
          if (again.kind === "send") this.#sendRequest(again.request, "retried");
        }
        return;
      }
    }
    this.#logError(e, eventId === undefined ? undefined : this.#recentEvents.get(eventId));
  }

  #logError(e: ErrorEvent, clientEvent?: string): void {
    this.#log.warn("realtime error {errorType}/{code} for {clientEvent}: {detail}", {
      errorType: e.error.type,
      code: e.error.code ?? null,
      detail: e.error.message,
      param: e.error.param ?? null,
      eventId: e.error.event_id ?? null,
      clientEvent: clientEvent ?? (e.error.event_id?.startsWith("a") ? "audio append" : "-"),
    });
  }

  #chunkMs(base64: string): number {
    return base64Bytes(base64) / this.#inputBytesPerMs;
  }
}

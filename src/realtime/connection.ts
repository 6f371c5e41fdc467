/**
 * One call's connection to the OpenAI Realtime API (GA), over Deno's built-in WebSocket.
 *
 * It opens and configures the session (`session.update`, waits for `session.updated`),
 * parses server events once and hands them to listeners, and keeps the conversation so
 * far. When the socket drops mid-call it reconnects with exponential backoff and jitter,
 * re-sends the configuration and re-injects the conversation; audio appended meanwhile is
 * buffered (bounded, oldest dropped with a count). Before the session's 60-minute limit it
 * prepares a fresh session, waits for a quiet moment and swaps over the same way.
 *
 * States: `idle` → `connecting` → `open` ⇄ `reconnecting` → `closed`.
 *
 * @example
 * ```ts
 * const conn = new RealtimeConnection({ url, model, apiKey, sessionConfig });
 * conn.onEvent((e) => { if (e.type === "response.output_audio.delta") play(e.delta); });
 * await conn.connect();
 * conn.appendAudio(base64Mulaw);
 * ```
 *
 * @module
 */
import { type Logger, logger as baseLogger } from "../log.ts";
import { ConversationLog } from "./conversation_log.ts";
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
  sessionUpdate,
  systemText,
  truncate,
  userText,
} from "./protocol.ts";
import { bytesPerMs, inputFormatOf, type SessionConfig } from "./session_config.ts";

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

/** Timer functions, injectable so tests can drive time. */
export interface Timers {
  /** Schedules `fn`; returns an opaque handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Creates the socket; the default uses Deno's `WebSocket` with handshake headers. */
export type WebSocketFactory = (url: string, headers: Record<string, string>) => WebSocket;

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
  /** Most items re-injected into a fresh session. Default 200. */
  maxReinjectItems?: number;
  /** Supplies the conversation to re-inject instead of the connection's own record. */
  contextProvider?: () => ConversationItemInput[];
  /** Wall clock in ms (Date.now by default). */
  now?: () => number;
  timers?: Timers;
  /** Random source in [0, 1) for jitter. */
  random?: () => number;
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
}

/** Result of {@linkcode RealtimeConnection.createResponse}. */
export type ResponseRequest = "sent" | "deferred" | "dropped";

/** Error codes after which retrying cannot help. */
export const FATAL_ERROR_CODES: ReadonlySet<string> = new Set([
  "invalid_api_key",
  "model_not_found",
  "insufficient_quota",
  "beta_api_shape_disabled",
  "account_deactivated",
  "unsupported_model",
]);

/** Error types after which retrying cannot help. */
const FATAL_ERROR_TYPES: ReadonlySet<string> = new Set([
  "authentication_error",
  "permission_error",
]);

/** Whether an `error` event ends the model session for good. */
export function isFatalError(error: ErrorEvent["error"]): boolean {
  return (error.code != null && FATAL_ERROR_CODES.has(error.code)) ||
    FATAL_ERROR_TYPES.has(error.type);
}

/** Thrown by `connect()` when the session cannot be opened. */
export class RealtimeConnectError extends Error {
  /** Whether retrying cannot help (auth, model, rejected configuration). */
  readonly fatal: boolean;
  /** The server's error code, when there was one. */
  readonly code?: string;
  /** Builds the error. */
  constructor(message: string, fatal: boolean, code?: string) {
    super(message);
    this.name = "RealtimeConnectError";
    this.fatal = fatal;
    this.code = code;
  }
}

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

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

const defaultFactory: WebSocketFactory = (url, headers) => new WebSocket(url, { headers });

/** A configured socket, ready to take over. */
interface LiveSession {
  ws: WebSocket;
  sessionId: string | undefined;
  expiresAtMs: number | undefined;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** One call's Realtime connection. See the module documentation. */
export class RealtimeConnection {
  readonly #opts: RealtimeConnectionOptions;
  readonly #log: Logger;
  readonly #backoff: BackoffOptions;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #factory: WebSocketFactory;
  readonly #bytesPerMs: number;
  readonly #maxBufferedMs: number;

  #state: ConnectionState = "idle";
  #closeReason: CloseReason | undefined;
  #live: LiveSession | undefined;
  /** Sockets being opened/configured (so close() can abort them). */
  readonly #pending = new Set<WebSocket>();
  /** Pending retry/rollover timers and the waits they belong to. */
  readonly #timerIds = new Set<unknown>();
  readonly #abortWaits = new Set<() => void>();
  #expiryTimer: unknown;
  #rollingOver = false;

  readonly #buffer: string[] = [];
  #bufferedMs = 0;
  #responseActive = false;
  #responseDeferred: ResponseCreateOptions | undefined | null = null;
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
  };
  readonly #unknownTypesLogged = new Set<string>();

  readonly #eventListeners = new Set<Listener<[ServerEvent]>>();
  readonly #stateListeners = new Set<Listener<[ConnectionState, ConnectionState]>>();
  readonly #sessionListeners = new Set<Listener<[SessionStart]>>();

  /** Creates the connection; nothing happens until {@linkcode connect}. */
  constructor(opts: RealtimeConnectionOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? baseLogger("realtime");
    this.#backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.#timers = opts.timers ?? realTimers;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#factory = opts.webSocketFactory ?? defaultFactory;
    this.#bytesPerMs = bytesPerMs(inputFormatOf(opts.sessionConfig));
    this.#maxBufferedMs = opts.maxBufferedAudioMs ?? 2000;
  }

  /** Current state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Why the connection closed (undefined until `closed`). */
  get closeReason(): CloseReason | undefined {
    return this.#closeReason;
  }

  /** Counters (a live object; copy it to snapshot). */
  get stats(): Readonly<ConnectionStats> {
    return this.#stats;
  }

  /** The connection's own record of the conversation. */
  get conversation(): ConversationLog {
    return this.#record;
  }

  /** Whether a model response is in progress (between response.created and .done). */
  get responseActive(): boolean {
    return this.#responseActive;
  }

  /** The current session's id, if open. */
  get sessionId(): string | undefined {
    return this.#live?.sessionId;
  }

  /** Subscribes to parsed server events of the active session; returns an unsubscribe. */
  onEvent(fn: (event: ServerEvent) => void): () => void {
    this.#eventListeners.add(fn);
    return () => this.#eventListeners.delete(fn);
  }

  /** Subscribes to state changes `(state, previous)`; returns an unsubscribe. */
  onStateChange(fn: (state: ConnectionState, previous: ConnectionState) => void): () => void {
    this.#stateListeners.add(fn);
    return () => this.#stateListeners.delete(fn);
  }

  /** Subscribes to session starts (initial, after reconnect, after rollover). */
  onSession(fn: (info: SessionStart) => void): () => void {
    this.#sessionListeners.add(fn);
    return () => this.#sessionListeners.delete(fn);
  }

  /**
   * Opens and configures the session (retrying with backoff). Resolves once the server
   * confirmed the configuration; rejects with {@linkcode RealtimeConnectError} when it
   * cannot (state is then `closed`).
   */
  async connect(): Promise<void> {
    if (this.#state !== "idle") throw new Error(`connect() called in state ${this.#state}`);
    this.#setState("connecting");
    const live = await this.#establish("connecting");
    if (live === undefined) {
      const r = this.#closeReason!;
      throw new RealtimeConnectError(r.message, r.kind === "fatal", r.code);
    }
    this.#activate(live, "initial");
  }

  /**
   * Appends caller audio (base64 in the session's input format). While (re)connecting it
   * is buffered up to `maxBufferedAudioMs`, oldest first out; after close it is ignored.
   */
  appendAudio(base64: string): void {
    if (this.#state === "open") {
      this.#live!.ws.send(appendAudio(base64));
      return;
    }
    if (this.#state === "closed") return;
    const ms = this.#chunkMs(base64);
    this.#buffer.push(base64);
    this.#bufferedMs += ms;
    while (this.#bufferedMs > this.#maxBufferedMs && this.#buffer.length > 0) {
      const dropped = this.#buffer.shift()!;
      const droppedMs = this.#chunkMs(dropped);
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
    if (this.#state !== "open") {
      this.#stats.droppedEvents++;
      this.#log.debug("Dropped client event while not open", { state: this.#state });
      return false;
    }
    this.#live!.ws.send(text);
    return true;
  }

  /** Sends a tool result and records it (re-injected after a reconnect). */
  sendFunctionOutput(callId: string, output: string): boolean {
    this.#record.functionOutput(callId, output);
    return this.send(functionCallOutput(callId, output));
  }

  /** Sends a user text message and records it. */
  sendUserText(text: string): boolean {
    this.#record.userText(text);
    return this.send(userText(text));
  }

  /** Sends a system text message and records it. */
  sendSystemText(text: string): boolean {
    this.#record.systemText(text);
    return this.send(systemText(text));
  }

  /**
   * Asks for a response. If one is active it is deferred until that one is done (the
   * server allows one active response); without an open session it is dropped.
   */
  createResponse(opts?: ResponseCreateOptions): ResponseRequest {
    if (this.#state !== "open") {
      this.#stats.droppedEvents++;
      return "dropped";
    }
    if (this.#responseActive) {
      this.#responseDeferred = opts;
      return "deferred";
    }
    this.#responseActive = true; // until response.done; avoids a double create
    this.#live!.ws.send(responseCreate(opts));
    return "sent";
  }

  /**
   * Truncates an assistant item to what the caller heard, clamped to the audio received
   * for it (the server rejects more). Items of an earlier session are only recorded.
   * Returns the ms actually sent, or undefined when nothing was sent.
   */
  truncate(itemId: string, heardMs: number): number | undefined {
    const received = this.#itemAudioMs.get(itemId);
    const ms = Math.max(0, Math.min(Math.floor(heardMs), received ?? 0));
    this.#record.truncated(itemId, ms);
    if (received === undefined || this.#state !== "open") return undefined;
    this.#live!.ws.send(truncate(itemId, ms));
    return ms;
  }

  /** Closes for good (idempotent). Pending waits end; timers are cleared. */
  close(message = "closed by client"): void {
    this.#finish({ kind: "client", message });
  }

  // -------------------------------------------------------------------------------------

  #isClosed(): boolean {
    return this.#state === "closed";
  }

  #setState(next: ConnectionState): void {
    const prev = this.#state;
    if (prev === next) return;
    this.#state = next;
    this.#log.info("Realtime connection state {state}", { state: next, previous: prev });
    for (const fn of this.#stateListeners) {
      try {
        fn(next, prev);
      } catch (err) {
        this.#log.error("State listener threw", { error: String(err) });
      }
    }
  }

  #finish(reason: CloseReason): void {
    if (this.#state === "closed") return;
    this.#closeReason = reason;
    if (reason.kind === "fatal") {
      this.#log.error("Realtime session ended by fatal error: {message}", {
        message: reason.message,
        code: reason.code,
      });
    } else if (reason.kind === "gave_up") {
      this.#log.error("Realtime reconnection gave up: {message}", { message: reason.message });
    }
    if (this.#expiryTimer !== undefined) this.#timers.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    for (const id of this.#timerIds) this.#timers.clearTimeout(id);
    this.#timerIds.clear();
    for (const abort of [...this.#abortWaits]) abort();
    for (const ws of this.#pending) closeQuietly(ws);
    this.#pending.clear();
    if (this.#live) {
      detach(this.#live.ws);
      closeQuietly(this.#live.ws);
      this.#live = undefined;
    }
    this.#buffer.length = 0;
    this.#bufferedMs = 0;
    this.#quietWaiter?.();
    this.#setState("closed");
  }

  /** Sleeps on the injectable timers; resolves false if the connection closed meanwhile. */
  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const abort = () => {
        this.#timers.clearTimeout(id);
        this.#timerIds.delete(id);
        this.#abortWaits.delete(abort);
        resolve(false);
      };
      const id = this.#timers.setTimeout(() => {
        this.#timerIds.delete(id);
        this.#abortWaits.delete(abort);
        resolve(true);
      }, ms);
      this.#timerIds.add(id);
      this.#abortWaits.add(abort);
    });
  }

  /**
   * Tries to open a configured session with backoff. Returns undefined when it gave up or
   * hit a fatal error (the connection is then closed) or was closed meanwhile.
   */
  async #establish(phase: "connecting" | "reconnecting"): Promise<LiveSession | undefined> {
    const started = this.#now();
    let last = "";
    for (let attempt = 1; attempt <= this.#backoff.maxAttempts; attempt++) {
      // A first connect tries at once; after a drop even the first retry waits (jittered),
      // so calls dropped together by an outage do not reconnect in lockstep.
      const retry = phase === "connecting" ? attempt - 1 : attempt;
      if (retry > 0) {
        const delay = backoffDelay(retry, this.#backoff, this.#random);
        if (this.#now() - started + delay > this.#backoff.maxTotalMs) break;
        if (!(await this.#sleep(delay))) return undefined;
      }
      if (this.#state !== phase) return undefined;
      try {
        const live = await this.#openSession();
        if (this.#state !== phase) {
          closeQuietly(live.ws);
          return undefined;
        }
        return live;
      } catch (err) {
        if (this.#isClosed()) return undefined;
        const e = err instanceof RealtimeConnectError
          ? err
          : new RealtimeConnectError(String(err), false);
        if (e.fatal) {
          this.#finish({ kind: "fatal", message: e.message, code: e.code });
          return undefined;
        }
        last = e.message;
        this.#log.warn("Realtime connect attempt {attempt} failed: {message}", {
          attempt,
          message: e.message,
          phase,
        });
      }
    }
    this.#finish({
      kind: "gave_up",
      message: `no session after ${this.#backoff.maxAttempts} attempts / ${
        this.#now() - started
      } ms (last: ${last})`,
    });
    return undefined;
  }

  /** Opens one socket and configures it: session.created → session.update → session.updated. */
  #openSession(): Promise<LiveSession> {
    const url = withModel(this.#opts.url, this.#opts.model);
    const ws = this.#factory(url, { Authorization: `Bearer ${this.#opts.apiKey}` });
    this.#pending.add(ws);
    return new Promise<LiveSession>((resolve, reject) => {
      let sessionId: string | undefined;
      let expiresAtMs: number | undefined;
      let settled = false;
      const settle = (err: RealtimeConnectError | undefined) => {
        if (settled) return;
        settled = true;
        this.#timers.clearTimeout(timer);
        this.#timerIds.delete(timer);
        this.#abortWaits.delete(abort);
        this.#pending.delete(ws);
        if (err) {
          detach(ws);
          closeQuietly(ws);
          reject(err);
        } else {
          detach(ws);
          resolve({ ws, sessionId, expiresAtMs });
        }
      };
      const abort = () => settle(new RealtimeConnectError("connection closed", false));
      this.#abortWaits.add(abort);
      const timer = this.#timers.setTimeout(
        () => settle(new RealtimeConnectError("timed out opening the session", false)),
        this.#opts.connectTimeoutMs ?? 10000,
      );
      this.#timerIds.add(timer);
      ws.onmessage = (m: MessageEvent) => {
        if (typeof m.data !== "string") return;
        const parsed = parseServerEvent(m.data);
        if (!parsed.ok) return;
        const e = parsed.event;
        if (e.type === "session.created") {
          sessionId = e.session.id;
          if (e.session.expires_at !== undefined) expiresAtMs = e.session.expires_at * 1000;
          ws.send(sessionUpdate(this.#opts.sessionConfig));
        } else if (e.type === "session.updated") {
          settle(undefined);
        } else if (e.type === "error") {
          this.#stats.errorEvents++;
          this.#logError(e);
          // A rejected configuration will not improve by retrying; a server error may.
          const fatal = isFatalError(e.error) || e.error.type === "invalid_request_error";
          settle(
            new RealtimeConnectError(
              `${e.error.type}/${e.error.code ?? "-"}: ${e.error.message}`,
              fatal,
              e.error.code ?? undefined,
            ),
          );
        }
      };
      ws.onclose = (c: CloseEvent) => {
        const code = closeReasonCode(c.reason);
        settle(
          new RealtimeConnectError(
            `socket closed (${c.code}${c.reason ? ` ${c.reason}` : ""})`,
            code !== undefined && FATAL_ERROR_CODES.has(code),
            code,
          ),
        );
      };
      ws.onerror = () => {/* a close event follows */};
    });
  }

  /** Makes a configured socket the active one and restores the conversation. */
  #activate(live: LiveSession, reason: SessionStart["reason"]): void {
    const old = this.#live;
    if (old) {
      detach(old.ws);
      closeQuietly(old.ws);
    }
    this.#live = live;
    this.#itemAudioMs = new Map();
    this.#responseActive = false;
    this.#responseDeferred = null;
    this.#userSpeaking = false;
    const ws = live.ws;
    ws.onmessage = (m: MessageEvent) => this.#onMessage(m);
    ws.onclose = (c: CloseEvent) => this.#onDrop(ws, c);
    ws.onerror = () => {/* a close event follows */};

    if (reason !== "initial") {
      const items = this.#opts.contextProvider?.() ??
        this.#record.toItems(this.#opts.maxReinjectItems ?? 200);
      for (const item of items) ws.send(createItem(item));
      this.#log.info("Re-injected {count} conversation items after {reason}", {
        count: items.length,
        reason,
      });
    }
    const buffered = this.#buffer.length;
    for (const chunk of this.#buffer) ws.send(appendAudio(chunk));
    this.#buffer.length = 0;
    this.#bufferedMs = 0;
    this.#scheduleExpiry(live.expiresAtMs);
    this.#setState("open");
    if (reason === "reconnect") {
      this.#stats.reconnects++;
      const last = this.#opts.contextProvider ? "none" : this.#record.lastKind();
      // The caller is waiting for an answer: let the model continue.
      if (last === "user" || last === "function_output") this.createResponse();
    } else if (reason === "rollover") this.#stats.rollovers++;
    this.#log.info("Realtime session active ({reason})", {
      reason,
      sessionId: live.sessionId,
      bufferedChunksFlushed: buffered,
    });
    const info: SessionStart = { reason, sessionId: live.sessionId, expiresAtMs: live.expiresAtMs };
    for (const fn of this.#sessionListeners) {
      try {
        fn(info);
      } catch (err) {
        this.#log.error("Session listener threw", { error: String(err) });
      }
    }
  }

  #onDrop(ws: WebSocket, c: CloseEvent): void {
    if (this.#live?.ws !== ws || this.#state !== "open") return;
    detach(ws);
    this.#live = undefined;
    const code = closeReasonCode(c.reason);
    if (code !== undefined && FATAL_ERROR_CODES.has(code)) {
      this.#finish({ kind: "fatal", message: `socket closed: ${c.reason}`, code });
      return;
    }
    this.#log.warn("Realtime socket dropped ({code} {reason}); reconnecting", {
      code: c.code,
      reason: c.reason,
    });
    this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    this.#setState("reconnecting");
    const live = await this.#establish("reconnecting");
    if (live !== undefined) this.#activate(live, "reconnect");
  }

  #scheduleExpiry(expiresAtMs: number | undefined): void {
    if (this.#expiryTimer !== undefined) this.#timers.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (expiresAtMs === undefined) return;
    const margin = this.#opts.expiryMarginMs ?? 120_000;
    const delay = Math.max(0, expiresAtMs - margin - this.#now());
    this.#expiryTimer = this.#timers.setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#rollover().catch((err) => this.#log.error("Rollover failed", { error: String(err) }));
    }, delay);
  }

  /** Prepares a fresh session before expiry and swaps to it at a quiet moment. */
  async #rollover(): Promise<void> {
    if (this.#state !== "open" || this.#rollingOver) return;
    this.#rollingOver = true;
    try {
      this.#log.info("Session nears its time limit; starting a fresh one");
      let next: LiveSession;
      try {
        next = await this.#openSession();
      } catch (err) {
        // The old session still works; if it ends, the reconnect path takes over.
        this.#log.warn("Could not open the fresh session: {message}", {
          message: err instanceof Error ? err.message : String(err),
        });
        if (this.#state === "open") {
          const retry = this.#timers.setTimeout(() => {
            this.#timerIds.delete(retry);
            this.#rollover().catch(() => {});
          }, backoffDelay(3, this.#backoff, this.#random));
          this.#timerIds.add(retry);
        }
        return;
      }
      await this.#waitQuiet(this.#opts.rolloverQuietWaitMs ?? 20_000);
      if (this.#state !== "open") {
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
    if (!this.#responseActive && !this.#userSpeaking) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#quietWaiter = undefined;
        this.#timers.clearTimeout(id);
        this.#timerIds.delete(id);
        resolve();
      };
      const id = this.#timers.setTimeout(done, maxMs);
      this.#timerIds.add(id);
      this.#quietWaiter = done;
    });
  }

  #onMessage(m: MessageEvent): void {
    if (typeof m.data !== "string") {
      this.#stats.malformedEvents++;
      this.#log.warn("Ignored a binary frame from the Realtime server");
      return;
    }
    const parsed = parseServerEvent(m.data);
    if (!parsed.ok) {
      if (parsed.reason === "unknown_type") {
        this.#stats.unknownEvents++;
        if (!this.#unknownTypesLogged.has(parsed.type!)) {
          this.#unknownTypesLogged.add(parsed.type!);
          this.#log.debug("Ignoring unknown Realtime event type {type}", { type: parsed.type });
        }
      } else {
        this.#stats.malformedEvents++;
        this.#log.warn("Malformed Realtime event ({type}): {message}", {
          type: parsed.type ?? "?",
          message: parsed.message,
        });
      }
      return;
    }
    const e = parsed.event;
    this.#track(e);
    for (const fn of this.#eventListeners) {
      try {
        fn(e);
      } catch (err) {
        this.#log.error("Event listener threw on {type}", { type: e.type, error: String(err) });
      }
    }
    if (e.type === "error" && isFatalError(e.error)) {
      this.#finish({ kind: "fatal", message: e.error.message, code: e.error.code ?? undefined });
    }
    if (this.#quietWaiter && !this.#responseActive && !this.#userSpeaking) this.#quietWaiter();
  }

  /** Keeps response/speech state and the conversation record up to date. */
  #track(e: ServerEvent): void {
    switch (e.type) {
      case "response.output_audio.delta": {
        const ms = this.#outputChunkMs(e.delta);
        this.#itemAudioMs.set(e.item_id, (this.#itemAudioMs.get(e.item_id) ?? 0) + ms);
        this.#record.assistantAudio(e.item_id, ms);
        break;
      }
      case "response.created":
        this.#responseActive = true;
        break;
      case "response.done": {
        this.#responseActive = false;
        const deferred = this.#responseDeferred;
        if (deferred !== null) {
          this.#responseDeferred = null;
          this.createResponse(deferred);
        }
        break;
      }
      case "input_audio_buffer.speech_started":
        this.#userSpeaking = true;
        break;
      case "input_audio_buffer.speech_stopped":
        this.#userSpeaking = false;
        break;
      case "conversation.item.added":
        if (e.item.type === "message" && e.item.role === "user") {
          if (e.item.content?.some((c) => c.type === "input_audio")) {
            this.#record.userAudioItem(e.item.id);
          }
        }
        break;
      case "response.output_item.added":
        if (e.item.type === "message" && e.item.role === "assistant") {
          this.#record.assistantItem(e.item.id);
        }
        break;
      case "conversation.item.input_audio_transcription.completed":
        this.#record.userTranscript(e.item_id, e.transcript);
        break;
      case "response.output_audio_transcript.delta":
        this.#record.assistantTranscriptDelta(e.item_id, e.delta);
        break;
      case "response.output_audio_transcript.done":
        this.#record.assistantTranscriptDone(e.item_id, e.transcript);
        break;
      case "response.function_call_arguments.done":
        this.#record.functionCall(e.call_id, e.name, e.arguments);
        break;
      case "error":
        this.#stats.errorEvents++;
        this.#logError(e);
        break;
    }
  }

  #logError(e: ErrorEvent): void {
    this.#log.warn("Realtime error {errorType}/{code}: {message}", {
      errorType: e.error.type,
      code: e.error.code ?? null,
      message: e.error.message,
      param: e.error.param ?? null,
      eventId: e.error.event_id ?? null,
    });
  }

  #chunkMs(base64: string): number {
    return base64Bytes(base64) / this.#bytesPerMs;
  }

  #outputChunkMs(base64: string): number {
    const out = this.#opts.sessionConfig.audio.output.format.type === "audio/pcmu" ? 8 : 48;
    return base64Bytes(base64) / out;
  }
}

/** Decoded size of a base64 string, without decoding it. */
export function base64Bytes(b64: string): number {
  const n = b64.length;
  if (n === 0) return 0;
  const pad = b64.charCodeAt(n - 1) === 61 ? (b64.charCodeAt(n - 2) === 61 ? 2 : 1) : 0;
  return (n * 3) / 4 - pad;
}

/** Adds `?model=` to the endpoint (keeping any existing query). */
export function withModel(url: string, model: string): string {
  const u = new URL(url);
  u.searchParams.set("model", model);
  return u.toString();
}

/** The error code in a close reason like `invalid_request_error.invalid_api_key`. */
function closeReasonCode(reason: string): string | undefined {
  if (!reason) return undefined;
  const dot = reason.lastIndexOf(".");
  return dot >= 0 ? reason.slice(dot + 1) : reason;
}

function detach(ws: WebSocket): void {
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
  ws.onopen = null;
}

function closeQuietly(ws: WebSocket): void {
  try {
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
      ws.close(1000, "done");
    }
  } catch {
    // already closing
  }
}

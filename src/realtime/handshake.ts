/**
 * Opening one configured Realtime session: connect the socket, wait for
 * `session.created`, send `session.update`, wait for `session.updated`. Also the errors
 * that tell whether trying again can help.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { type ErrorEvent, parseServerEvent, sessionUpdate } from "./protocol.ts";
import type { SessionConfig } from "./session_config.ts";

/** Creates the socket; the default uses Deno's `WebSocket` with handshake headers. */
export type WebSocketFactory = (url: string, headers: Record<string, string>) => WebSocket;

/** The built-in client: `new WebSocket(url, { headers })`. */
export const builtInWebSocket: WebSocketFactory = (url, headers) => new WebSocket(url, { headers });

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

/** Thrown when a session cannot be opened. */
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

/** A configured socket, ready to take over. */
export interface LiveSession {
  ws: WebSocket;
  sessionId: string | undefined;
  /** Unix ms at which the server ends this session, if it said. */
  expiresAtMs: number | undefined;
}

/** What {@linkcode openSession} needs. */
export interface HandshakeOptions {
  /** Full URL including `?model=`. */
  url: string;
  apiKey: string;
  sessionConfig: SessionConfig;
  factory: WebSocketFactory;
  clock: Clock;
  /** Time allowed to open and configure, ms. */
  timeoutMs: number;
  /** Aborts the attempt (the connection was closed). */
  signal: AbortSignal;
  /** Sees each `error` event received during the handshake (counting, logging). */
  onError?(event: ErrorEvent): void;
}

/**
 * Opens one socket and configures it: `session.created` → `session.update` →
 * `session.updated`. Rejects with {@linkcode RealtimeConnectError} (fatal for auth, model
 * and rejected-configuration errors) and closes the socket on any failure.
 */
export function openSession(o: HandshakeOptions): Promise<LiveSession> {
  const ws = o.factory(o.url, { Authorization: `Bearer ${o.apiKey}` });
  return new Promise<LiveSession>((resolve, reject) => {
    let sessionId: string | undefined;
    let expiresAtMs: number | undefined;
    let settled = false;
    const settle = (error: RealtimeConnectError | undefined) => {
      if (settled) return;
      settled = true;
      o.clock.clearTimeout(timer);
      o.signal.removeEventListener("abort", onAbort);
      detach(ws);
      if (error) {
        closeQuietly(ws);
        reject(error);
      } else resolve({ ws, sessionId, expiresAtMs });
    };
    const onAbort = () => settle(new RealtimeConnectError("connection closed", false));
    if (o.signal.aborted) return onAbort();
    o.signal.addEventListener("abort", onAbort, { once: true });
    const timer = o.clock.setTimeout(
      () => settle(new RealtimeConnectError("timed out opening the session", false)),
      o.timeoutMs,
    );
    ws.onmessage = (m: MessageEvent) => {
      if (typeof m.data !== "string") return;
      const parsed = parseServerEvent(m.data);
      if (!parsed.ok) return;
      const e = parsed.event;
      if (e.type === "session.created") {
        sessionId = e.session.id;
        if (e.session.expires_at !== undefined) expiresAtMs = e.session.expires_at * 1000;
        ws.send(sessionUpdate(o.sessionConfig));
      } else if (e.type === "session.updated") {
        settle(undefined);
      } else if (e.type === "error") {
        o.onError?.(e);
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

/** The error code in a close reason like `invalid_request_error.invalid_api_key`. */
export function closeReasonCode(reason: string): string | undefined {
  if (!reason) return undefined;
  const dot = reason.lastIndexOf(".");
  return dot >= 0 ? reason.slice(dot + 1) : reason;
}

/** Removes every handler from a socket. */
export function detach(ws: WebSocket): void {
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
  ws.onopen = null;
}

/** Closes a socket that may already be closing, without throwing. */
export function closeQuietly(ws: WebSocket): void {
  try {
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
      ws.close(1000, "done");
    }
  } catch {
    // already closing
  }
}

/** Adds `?model=` to the endpoint (keeping any existing query). */
export function withModel(url: string, model: string): string {
  const u = new URL(url);
  u.searchParams.set("model", model);
  return u.toString();
}

/**
 * The model socket on npm `ws` (the client the Twilio sample and the OpenAI SDK's Node
 * realtime client use), shaped as the part of the browser `WebSocket` the connection uses.
 *
 * Why not Deno's built-in `WebSocket`: it sets `TCP_NODELAY` to 0 on its client socket
 * (`strace -e setsockopt`, `ws://` and `wss://`), so a 20 ms audio append waits behind
 * unacknowledged data; against a model a round trip away the model hears the caller late.
 * `ws` calls `setNoDelay()` on its socket, which Deno's `node:net` passes to the kernel
 * (`TCP_NODELAY` 1). BENCHMARKS.md ("Model socket: built-in WebSocket or npm ws") has the
 * measurement.
 *
 * `ws` pulls in Deno's `node:http`/`node:tls` layer (about 13 MiB of RSS), so it is
 * imported on the first connection, not at start-up: the socket reports `CONNECTING`
 * until the import is done (a few hundred ms, once; pre-warming at the voice webhook hides
 * it).
 *
 * @example
 * ```ts
 * import { RealtimeConnection, type RealtimeConnectionOptions } from "./connection.ts";
 * declare const opts: RealtimeConnectionOptions;
 * const conn = new RealtimeConnection({ ...opts, webSocketFactory: webSocketFactoryFor("ws") });
 * ```
 *
 * @module
 */
import type { RawData, WebSocket as NodeWebSocket } from "ws";
import { errorMessage } from "../errors.ts";
import { builtInWebSocket, type WebSocketFactory } from "./handshake.ts";

/** Which client opens the model socket (`OPENAI_WEBSOCKET_CLIENT`). */
export type WebSocketClient = "ws" | "builtin";

/** The clients, for configuration. */
export const WEBSOCKET_CLIENTS: readonly WebSocketClient[] = ["ws", "builtin"];

/** The client the service uses unless configured otherwise (BENCHMARKS.md says why). */
export const DEFAULT_WEBSOCKET_CLIENT: WebSocketClient = "ws";

/** The factory for a configured client. */
export function webSocketFactoryFor(client: WebSocketClient): WebSocketFactory {
  return client === "ws" ? nodeWsWebSocket : builtInWebSocket;
}

/**
 * Opens the model socket with npm `ws` (`TCP_NODELAY` on, no compression offered, the
 * same as the built-in client otherwise).
 */
export const nodeWsWebSocket: WebSocketFactory = (url, headers) =>
  // The adapter has every member of `WebSocket` the connection and the handshake use.
  new NodeWsSocket(url, headers) as unknown as WebSocket;

type WsModule = typeof import("ws");
let wsModule: Promise<WsModule> | undefined;

/** Imports `ws` once, on first use. */
function loadWs(): Promise<WsModule> {
  return wsModule ??= import("ws");
}

const CONNECTING = 0;
const CLOSED = 3;
/** Close code of a connection that ended without a close handshake. */
const ABNORMAL_CLOSURE = 1006;

/**
 * A `ws` client behind the `WebSocket` members the connection uses: `on*` handlers,
 * `send`, `close`, `readyState`, `bufferedAmount`. Text frames arrive as strings, binary
 * ones as `ArrayBuffer`. Errors never throw out of an event emitter: without an `onerror`
 * handler (a detached socket) they are dropped, and a close event follows each.
 */
export class NodeWsSocket {
  /** Called once the socket is open. */
  onopen: ((event: Event) => void) | null = null;
  /** Called for each message. */
  onmessage: ((event: MessageEvent) => void) | null = null;
  /** Called on a connection error; a close event follows. */
  onerror: ((event: Event) => void) | null = null;
  /** Called once, when the socket is closed. */
  onclose: ((event: CloseEvent) => void) | null = null;
  /** Binary messages are delivered as `ArrayBuffer` only. */
  readonly binaryType: BinaryType = "arraybuffer";
  readonly url: string;
  #ws: NodeWebSocket | undefined;
  /** Closed before `ws` was loaded: never connect. */
  #closedEarly = false;

  /** Starts connecting (after loading `ws` the first time). */
  constructor(url: string, headers: Record<string, string>) {
    this.url = url;
    loadWs().then(
      (mod) => {
        if (!this.#closedEarly) this.#open(mod, headers);
      },
      // Said in the close reason, which the handshake's error carries to the log.
      (error) => this.#fail(error, `npm ws did not load: ${errorMessage(error)}`),
    );
  }

  /** `CONNECTING`, `OPEN`, `CLOSING` or `CLOSED`, as numbers (the `WebSocket` constants). */
  get readyState(): number {
    if (this.#closedEarly) return CLOSED;
    return this.#ws?.readyState ?? CONNECTING;
  }

  /** Bytes queued but not yet written to the network. */
  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  /** Sends a message; throws while connecting, like `WebSocket.send`. */
  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    if (!this.#ws) {
      throw new DOMException("the socket is not open yet", "InvalidStateError");
    }
    this.#ws.send(data);
  }

  /** Starts the closing handshake (or abandons the connection while connecting). */
  close(code?: number, reason?: string): void {
    if (this.#ws) {
      this.#ws.close(code, reason);
      return;
    }
    if (this.#closedEarly) return;
    this.#closedEarly = true;
    // As `WebSocket` does for a socket closed while connecting: error, then close.
    queueMicrotask(() => this.#fail(new Error("closed before the connection was established")));
  }

  #open(mod: WsModule, headers: Record<string, string>): void {
    let ws: NodeWebSocket;
    try {
      // No permessage-deflate: the built-in client does not offer it, and audio does not
      // compress; it would only cost CPU per frame.
      ws = new mod.WebSocket(this.url, { headers, perMessageDeflate: false });
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#ws = ws;
    ws.on("open", () => this.onopen?.(new Event("open")));
    ws.on("message", (data: RawData, isBinary: boolean) => {
      this.onmessage?.(
        new MessageEvent("message", { data: isBinary ? toArrayBuffer(data) : data.toString() }),
      );
    });
    ws.on("error", (error: Error) => this.#emitError(error));
    ws.on("close", (code: number, reason: Uint8Array) => {
      this.onclose?.(
        new CloseEvent("close", {
          code,
          reason: new TextDecoder().decode(reason),
          wasClean: code !== ABNORMAL_CLOSURE,
        }),
      );
    });
  }

  /** A connection that never opened: error, then close (1006). */
  #fail(error: unknown, reason = ""): void {
    this.#closedEarly = true;
    this.#emitError(error);
    this.onclose?.(new CloseEvent("close", { code: ABNORMAL_CLOSURE, reason, wasClean: false }));
  }

  #emitError(error: unknown): void {
    this.onerror?.(new ErrorEvent("error", { error, message: errorMessage(error) }));
  }
}

/** The bytes of a binary message (`ws` gives a Buffer, or fragments as a Buffer list). */
function toArrayBuffer(data: RawData): ArrayBuffer {
  const parts = Array.isArray(data) ? data : [data];
  const bytes = new Uint8Array(
    parts.reduce((n, p) => n + (p instanceof ArrayBuffer ? p.byteLength : p.length), 0),
  );
  let at = 0;
  for (const p of parts) {
    const view = p instanceof ArrayBuffer ? new Uint8Array(p) : p;
    bytes.set(view, at);
    at += view.length;
  }
  return bytes.buffer;
}

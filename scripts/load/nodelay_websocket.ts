/**
 * A small RFC 6455 WebSocket client over `Deno.connect` / `Deno.startTls` with
 * `TCP_NODELAY` set, shaped like the browser `WebSocket` the rest of the code uses
 * (`onopen`/`onmessage`/`onclose`/`onerror`, `send`, `close`, `readyState`).
 *
 * Why: Deno's built-in `WebSocket` client leaves Nagle's algorithm on. Appending a 20 ms
 * audio frame every 20 ms is exactly the small-write pattern Nagle holds back until the
 * previous segment is acknowledged, and with the peer's delayed ACK that added up to
 * ~40 ms to caller->model frames in the load harness (p50 6-13 ms, p99 ~40 ms on
 * loopback at only 10 calls). This client writes each message at once, coalescing only
 * messages already queued behind a write in progress.
 *
 * Where it is used: by the load harness's simulated callers (Twilio's side, which does not
 * delay small writes), and as an opt-in experiment for the model socket
 * (`scripts/load/server_main.ts --ws=nodelay`). The service itself uses Deno's built-in
 * `WebSocket`, as its design specifies; this file is the evidence for a change upstream.
 *
 * Scope: text and binary messages, fragmented messages, ping/pong, the close handshake;
 * no extensions (no permessage-deflate is offered), no subprotocols.
 *
 * @example
 * ```ts
 * declare const key: string; // the OpenAI API key
 * const ws = new NoDelayWebSocket("wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1", {
 *   headers: { Authorization: `Bearer ${key}` },
 * });
 * ws.onmessage = (e) => console.log(e.data);
 * ```
 *
 * @module
 */

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The longest client frame header: 2 bytes, an 8-byte length, a 4-byte mask key. */
const MAX_HEADER = 14;

/** Options of {@linkcode NoDelayWebSocket}. */
export interface NoDelayWebSocketOptions {
  /** Extra handshake headers (e.g. `Authorization`). */
  headers?: Record<string, string>;
}

/** A WebSocket client with Nagle's algorithm off. See the module documentation. */
export class NoDelayWebSocket {
  /** Same values as the standard `WebSocket` constants. */
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  /**
   * Text messages as plain strings, without building a `MessageEvent` per message (the
   * load harness's callers receive thousands a second). When set, `onmessage` gets only
   * binary messages.
   */
  ontext: ((data: string) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  /** Binary messages arrive as ArrayBuffer (the only type supported). */
  binaryType: BinaryType = "arraybuffer";
  readonly url: string;

  #state = 0;
  #conn: Deno.Conn | undefined;
  #queue: Uint8Array[] = [];
  #writing = false;
  #closeSent = false;
  #closeEmitted = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = 0;
  #maskPool = new Uint8Array(0);
  #maskAt = 0;

  /** Connects at once; `onopen` fires after the handshake. */
  constructor(url: string, options: NoDelayWebSocketOptions = {}) {
    this.url = url;
    this.#run(new URL(url), options.headers ?? {}).catch((error) => this.#fail(error));
  }

  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  get readyState(): number {
    return this.#state;
  }

  /** Sends a text (string) or binary message. */
  send(data: string | Uint8Array | ArrayBuffer): void {
    if (this.#state === 0) throw new DOMException("WebSocket is not open", "InvalidStateError");
    if (this.#state !== 1) return;
    if (typeof data === "string") this.#sendText(data);
    else this.#sendFrame(0x2, data instanceof Uint8Array ? data : new Uint8Array(data));
  }

  /** Starts the close handshake (or aborts a pending connect). */
  close(code = 1000, reason = ""): void {
    if (this.#state >= 2) return;
    if (this.#state === 0) {
      this.#state = 2;
      return; // #run sees it and tears down once the socket exists
    }
    this.#state = 2;
    this.#sendClose(code, reason);
    // A peer that never answers the close must not keep the socket open.
    this.#closeTimer = setTimeout(() => this.#teardown(1006, "", false), 5000);
  }

  async #run(url: URL, headers: Record<string, string>): Promise<void> {
    const secure = url.protocol === "wss:" || url.protocol === "https:";
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port) || (secure ? 443 : 80);
    const tcp = await Deno.connect({ hostname, port });
    tcp.setNoDelay(true);
    const conn: Deno.Conn = secure ? await Deno.startTls(tcp, { hostname }) : tcp;
    this.#conn = conn;
    if (this.#state !== 0) return this.#teardown(1006, "", false);
    const key = crypto.getRandomValues(new Uint8Array(16)).toBase64();
    const lines = [
      `GET ${url.pathname || "/"}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    let buf: Uint8Array = new Uint8Array(0);
    let end = -1;
    const chunk = new Uint8Array(64 * 1024);
    while (end < 0) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during the handshake");
      buf = concat(buf, chunk.subarray(0, n));
      end = indexOfHeaderEnd(buf);
      if (end < 0 && buf.length > 64 * 1024) throw new Error("handshake response too large");
    }
    const head = new TextDecoder().decode(buf.subarray(0, end));
    const [status, ...fields] = head.split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(status)) throw new Error(`handshake failed: ${status}`);
    const accept = fields.find((f) => /^sec-websocket-accept:/i.test(f))?.split(":")[1]?.trim();
    const expected = new Uint8Array(
      await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID)),
    ).toBase64();
    if (accept !== expected) throw new Error("handshake failed: bad Sec-WebSocket-Accept");
    if (this.#state !== 0) return this.#teardown(1006, "", false);
    this.#state = 1;
    this.onopen?.(new Event("open"));
    await this.#readLoop(conn, buf.subarray(end + 4));
  }

  async #readLoop(conn: Deno.Conn, initial: Uint8Array): Promise<void> {
    // One buffer, read into at its end and parsed from its start: no copy per read.
    let buf = new Uint8Array(Math.max(64 * 1024, initial.length * 2));
    buf.set(initial);
    let start = 0;
    let end = initial.length;
    for (;;) {
      // Parse every complete frame in the buffer.
      for (;;) {
        const frame = parseFrame(buf, start, end);
        if (frame === undefined) break;
        if (frame === null) {
          this.#protocolError("invalid frame");
          return;
        }
        start = frame.next;
        if (!this.#onFrame(frame.opcode, frame.fin, buf.subarray(frame.start, frame.next))) {
          return;
        }
      }
      if (start === end) start = end = 0;
      else if (buf.length - end < 16 * 1024) {
        // Make room: move the partial frame to the front, or grow for a large one.
        if (end - start > buf.length / 2) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf.subarray(start, end));
          buf = bigger;
        } else buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      let n: number | null;
      try {
        n = await conn.read(buf.subarray(end));
      } catch {
        n = null;
      }
      if (n === null) return this.#teardown(1006, "", false);
      end += n;
    }
  }

  /** Handles one frame; returns false when reading must stop. */
  #onFrame(opcode: number, fin: boolean, payload: Uint8Array): boolean {
    if (opcode >= 0x8) {
      if (opcode === 0x8) {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        const reason = payload.length > 2 ? new TextDecoder().decode(payload.subarray(2)) : "";
        if (!this.#closeSent) this.#sendClose(code === 1005 ? 1000 : code, "");
        this.#state = 2;
        // Let the echo go out before the socket closes.
        void this.#drained().then(() => this.#teardown(code, reason, true));
        return false;
      }
      if (opcode === 0x9 && this.#state === 1) this.#sendFrame(0xA, payload.slice());
      return true;
    }
    if (opcode !== 0) {
      if (this.#fragments.length > 0) return this.#protocolError("interleaved message");
      if (fin) return this.#deliver(opcode, payload);
      this.#fragmentOpcode = opcode;
      this.#fragments.push(payload.slice());
      return true;
    }
    if (this.#fragments.length === 0) return this.#protocolError("stray continuation");
    this.#fragments.push(payload.slice());
    if (this.#fragments.reduce((n, f) => n + f.length, 0) > MAX_MESSAGE_BYTES) {
      return this.#protocolError("message too big");
    }
    if (!fin) return true;
    const whole = this.#fragments.reduce((a, b) => concat(a, b), new Uint8Array(0));
    this.#fragments = [];
    return this.#deliver(this.#fragmentOpcode, whole);
  }

  #deliver(opcode: number, payload: Uint8Array): boolean {
    if (this.#state !== 1) return true;
    let data: string | ArrayBuffer;
    if (opcode === 0x1) {
      try {
        data = decoder.decode(payload);
      } catch {
        return this.#protocolError("invalid UTF-8");
      }
    } else if (opcode === 0x2) data = payload.slice().buffer;
    else return this.#protocolError("unknown opcode");
    try {
      if (typeof data === "string" && this.ontext) this.ontext(data);
      else this.onmessage?.(new MessageEvent("message", { data }));
    } catch (error) {
      reportError(error);
    }
    return true;
  }

  #protocolError(message: string): false {
    this.onerror?.(new ErrorEvent("error", { message }));
    if (!this.#closeSent) this.#sendClose(1002, message);
    void this.#drained().then(() => this.#teardown(1002, message, false));
    return false;
  }

  #sendClose(code: number, reason: string): void {
    this.#closeSent = true;
    const r = encoder.encode(reason).subarray(0, 123);
    const payload = new Uint8Array(2 + r.length);
    payload[0] = code >> 8;
    payload[1] = code & 0xff;
    payload.set(r, 2);
    this.#sendFrame(0x8, payload);
  }

  /** Builds one masked frame and queues it; writes go out in order, at once. */
  #sendFrame(opcode: number, payload: Uint8Array): void {
    const n = payload.length;
    const headerLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const frame = new Uint8Array(headerLen + 4 + n);
    frame[0] = 0x80 | opcode;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 65536) {
      frame[1] = 0x80 | 126;
      frame[2] = n >> 8;
      frame[3] = n & 0xff;
    } else {
      frame[1] = 0x80 | 127;
      new DataView(frame.buffer).setBigUint64(2, BigInt(n));
    }
    const m = headerLen;
    this.#fillMask(frame, m);
    for (let i = 0; i < n; i++) frame[m + 4 + i] = payload[i] ^ frame[m + (i & 3)];
    this.#queue.push(frame);
    if (!this.#writing) void this.#pump();
  }

  /**
   * A text message, encoded straight into its frame (one allocation, no copy). The payload
   * sits at a fixed offset with room before it for the longest header, which is written
   * once the encoded length is known. Its mask key is zero, so the masked payload is the
   * payload itself: RFC 6455 asks clients for random keys to protect proxies from
   * cache poisoning, which does not arise on a loopback test connection, and no server
   * can tell (it unmasks with whatever key the frame carries).
   */
  #sendText(text: string): void {
    const frame = new Uint8Array(MAX_HEADER + text.length * 3);
    const n = encoder.encodeInto(text, frame.subarray(MAX_HEADER)).written;
    const headerLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const at = MAX_HEADER - 4 - headerLen; // the mask key's 4 zero bytes end the header
    frame[at] = 0x81;
    if (n < 126) frame[at + 1] = 0x80 | n;
    else if (n < 65536) {
      frame[at + 1] = 0x80 | 126;
      frame[at + 2] = n >> 8;
      frame[at + 3] = n & 0xff;
    } else {
      frame[at + 1] = 0x80 | 127;
      new DataView(frame.buffer).setBigUint64(at + 2, BigInt(n));
    }
    this.#queue.push(frame.subarray(at, MAX_HEADER + n));
    if (!this.#writing) void this.#pump();
  }

  /** Mask keys come from a pool of cryptographic random bytes (refilled in bulk). */
  #fillMask(frame: Uint8Array, at: number): void {
    if (this.#maskAt + 4 > this.#maskPool.length) {
      this.#maskPool = crypto.getRandomValues(new Uint8Array(4096));
      this.#maskAt = 0;
    }
    frame.set(this.#maskPool.subarray(this.#maskAt, this.#maskAt + 4), at);
    this.#maskAt += 4;
  }

  async #pump(): Promise<void> {
    const conn = this.#conn;
    if (!conn) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.length === 1 ? this.#queue[0] : concatAll(this.#queue);
        this.#queue = [];
        await writeAll(conn, batch);
      }
    } catch {
      this.#queue = [];
      this.#teardown(1006, "", false);
    } finally {
      this.#writing = false;
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
  }

  #drainWaiters: Array<() => void> = [];

  #drained(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #fail(error: unknown): void {
    if (this.#closeEmitted) return;
    this.onerror?.(new ErrorEvent("error", { message: (error as Error)?.message ?? "error" }));
    this.#teardown(1006, "", false);
  }

  #teardown(code: number, reason: string, wasClean: boolean): void {
    clearTimeout(this.#closeTimer);
    this.#state = 3;
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.onclose?.(new CloseEvent("close", { code, reason, wasClean }));
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function indexOfHeaderEnd(buf: Uint8Array): number {
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * Parses the frame at `at`: undefined when incomplete, null when invalid (a server must
 * not mask, control frames are short and final).
 */
function parseFrame(
  buf: Uint8Array,
  at: number,
  end: number,
): { opcode: number; fin: boolean; start: number; next: number } | null | undefined {
  if (end - at < 2) return undefined;
  const b0 = buf[at];
  const b1 = buf[at + 1];
  if ((b0 & 0x70) !== 0 || (b1 & 0x80) !== 0) return null;
  const opcode = b0 & 0x0f;
  const fin = (b0 & 0x80) !== 0;
  let len = b1 & 0x7f;
  let start = at + 2;
  if (len === 126) {
    if (end - at < 4) return undefined;
    len = (buf[at + 2] << 8) | buf[at + 3];
    start = at + 4;
  } else if (len === 127) {
    if (end - at < 10) return undefined;
    const big = new DataView(buf.buffer, buf.byteOffset + at + 2, 8).getBigUint64(0);
    if (big > BigInt(MAX_MESSAGE_BYTES)) return null;
    len = Number(big);
    start = at + 10;
  }
  if (opcode >= 0x8 && (len > 125 || !fin)) return null;
  if (end < start + len) return undefined;
  return { opcode, fin, start, next: start + len };
}

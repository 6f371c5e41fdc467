/**
 * Added latency measured inside the bridge process, as issue 9 defines it: a frame's
 * arrival on one socket -> its departure on the other. The harness's fake-to-fake figures
 * also hold loopback TCP, Nagle on the model socket and both processes' event-loop
 * queues; this probe isolates what the bridge itself adds once it has the frame.
 *
 * How: before the bridge starts, {@linkcode BridgeProbe.install} wraps
 * `Deno.upgradeWebSocket` (Twilio side) and the global `WebSocket` (model side) so every
 * socket the bridge opens gets a first `message` listener (it runs before the bridge's
 * own handler) and a `send` that notes the time after the real send returns. The load
 * harness stamps the first 12 bytes of each mu-law frame (see `probe.ts`), which the
 * bridge carries through untouched in `pcmu` mode, so the first 16 base64 characters of
 * a payload name the frame on both sides. `pcm16` transcodes the bytes: no stamp
 * survives, and the probe records nothing (the harness figures still apply).
 *
 * The stamp also holds the fake's wall-clock send time, so the probe also records (on one
 * frame in eight) the trip to the bridge (fake's send -> the frame reaches the bridge's JavaScript: loopback
 * TCP, Nagle on the sender, and the bridge's event-loop queue).
 *
 * Barge-in: the model socket's `speech_started` arrival -> the `clear` sent on the Twilio
 * socket paired with it (sockets are paired by the first model frame seen leaving on a
 * Twilio socket).
 *
 * Not free: a listener, a string search and a map entry per frame, the same for our
 * bridge and the baseline. Memory stays constant (histograms, and arrivals that never
 * leave are forgotten), so a soak's RSS is the bridge's. Load-harness only; the service never loads this file.
 *
 * @module
 */
import { readStamp, stampSentAt, wallClockMs } from "./probe.ts";
import { Histogram } from "./stats.ts";

/** Base64 characters of the 12 bytes that name a frame. */
const STAMP_CHARS = 16;
/** Base64 characters that hold the whole 20-byte stamp (21 bytes decoded). */
const STAMP_WITH_TIME_CHARS = 28;
/** Arrivals not matched within this long are forgotten (ms). */
const FORGET_AFTER_MS = 2000;

/** Where the payload after `field` (e.g. `"payload":"`) starts, or -1 when too short. */
function payloadStart(text: string, field: string): number {
  const at = text.indexOf(field);
  if (at < 0) return -1;
  const start = at + field.length;
  return text.length >= start + STAMP_WITH_TIME_CHARS ? start : -1;
}

/** The stamp key of a payload after `field`, or undefined. */
function stampAfter(text: string, field: string): string | undefined {
  const start = payloadStart(text, field);
  return start < 0 ? undefined : text.slice(start, start + STAMP_CHARS);
}

/** Base64 of the stamp's first three bytes ("LDS" of the magic): a stamped frame starts so. */
const STAMP_PREFIX = "TERT";
/** The trip from the fake is timed on one stamped frame in this many (decoding is the dear part). */
const TRIP_SAMPLE_EVERY = 8;
let arrivalsSeen = 0;

/** Records an arriving stamped frame: its key -> arrival, and (sampled) the trip from the fake. */
function noteArrival(
  text: string,
  field: string,
  socket: WebSocket,
  arrivals: Map<string, Arrival>,
  trip: Histogram,
): boolean {
  const start = payloadStart(text, field);
  if (start < 0) return false;
  if (!text.startsWith(STAMP_PREFIX, start)) return true; // unstamped audio (pcm16 model frames)
  arrivals.set(text.slice(start, start + STAMP_CHARS), { at: performance.now(), socket });
  if (++arrivalsSeen % TRIP_SAMPLE_EVERY !== 0) return true;
  try {
    const stamp = Uint8Array.fromBase64(text.slice(start, start + STAMP_WITH_TIME_CHARS));
    if (readStamp(stamp)) trip.add(wallClockMs() - stampSentAt(stamp));
  } catch { /* not base64: the bridge will reject it; nothing to time */ }
  return true;
}

interface Arrival {
  at: number;
  socket: WebSocket;
}

/** Latency samples of the bridge process; see the module documentation. */
export class BridgeProbe {
  /** Twilio media arrives -> model append sent (ms). */
  readonly up: Histogram = new Histogram();
  /** Model audio delta arrives -> Twilio media sent (ms). */
  readonly down: Histogram = new Histogram();
  /** Model speech_started arrives -> Twilio clear sent (ms). */
  readonly bargeIn: Histogram = new Histogram();
  /** Caller's send -> the frame reaches the bridge's JavaScript (ms, wall clocks). */
  readonly toBridgeUp: Histogram = new Histogram();
  /** Model's send -> the delta reaches the bridge's JavaScript (ms, wall clocks). */
  readonly toBridgeDown: Histogram = new Histogram();
  readonly #upArrivals = new Map<string, Arrival>();
  readonly #downArrivals = new Map<string, Arrival>();
  readonly #modelOf = new WeakMap<WebSocket, WebSocket>();
  readonly #speechStartedAt = new WeakMap<WebSocket, number>();
  /** Model sockets already watched. */
  readonly #watched = new WeakSet<WebSocket>();
  #lastSweep = 0;

  /** Clears every sample (the start of a measurement window). */
  reset(): void {
    this.up.clear();
    this.down.clear();
    this.bargeIn.clear();
    this.toBridgeUp.clear();
    this.toBridgeDown.clear();
  }

  /** Wraps `Deno.upgradeWebSocket` and `WebSocket` for the rest of the process. */
  install(): void {
    const upgrade = Deno.upgradeWebSocket.bind(Deno);
    Object.defineProperty(Deno, "upgradeWebSocket", {
      configurable: true,
      value: (req: Request, options?: Deno.UpgradeWebSocketOptions) => {
        const upgraded = upgrade(req, options);
        this.#watchTwilio(upgraded.socket);
        return upgraded;
      },
    });
    const NativeWebSocket = globalThis.WebSocket;
    // deno-lint-ignore no-this-alias
    const probe = this;
    class ProbedWebSocket extends NativeWebSocket {
      constructor(url: string | URL, options?: string | string[] | WebSocketOptions) {
        super(url, options as WebSocketOptions);
        probe.#watchModel(this);
      }
    }
    globalThis.WebSocket = ProbedWebSocket;
  }

  #watchTwilio(socket: WebSocket): void {
    socket.addEventListener("message", (e) => {
      if (typeof e.data !== "string") return;
      noteArrival(e.data, '"payload":"', socket, this.#upArrivals, this.toBridgeUp);
    });
    this.#afterSend(socket, (text, now) => {
      const key = stampAfter(text, '"payload":"');
      if (key) {
        const arrival = this.#downArrivals.get(key);
        if (!arrival) return;
        this.#downArrivals.delete(key);
        this.down.add(now - arrival.at);
        this.#modelOf.set(socket, arrival.socket);
      } else if (text.includes('"event":"clear"')) {
        const model = this.#modelOf.get(socket);
        const at = model && this.#speechStartedAt.get(model);
        if (model && at !== undefined) {
          this.#speechStartedAt.delete(model);
          this.bargeIn.add(now - at);
        }
      }
    });
  }

  /**
   * Watches a model socket that is not the global `WebSocket` (npm `ws` behind the
   * product's adapter, the `nodelay` experiment): its `onmessage` handler is wrapped so
   * the probe sees each message first. Sockets the wrapped global made are left alone.
   */
  watchModelSocket(socket: WebSocket): void {
    if (this.#watched.has(socket)) return;
    this.#watched.add(socket);
    const listener = this.#modelListener(socket);
    // The adapter calls `this.onmessage?.(event)`: whatever the bridge sets, the getter
    // returns it behind the probe's listener.
    let wrapped: WebSocket["onmessage"] = null;
    Object.defineProperty(socket, "onmessage", {
      configurable: true,
      get: () => wrapped,
      set: (h: WebSocket["onmessage"]) => {
        wrapped = h && function (this: WebSocket, e: MessageEvent) {
          listener(e);
          h.call(this, e);
        };
      },
    });
    this.#watchModelSend(socket);
  }

  #watchModel(socket: WebSocket): void {
    this.#watched.add(socket);
    socket.addEventListener("message", this.#modelListener(socket));
    this.#watchModelSend(socket);
  }

  /** The probe's first look at each model message. */
  #modelListener(socket: WebSocket): (e: MessageEvent) => void {
    return (e) => {
      if (typeof e.data !== "string") return;
      const now = performance.now();
      if (!noteArrival(e.data, '"delta":"', socket, this.#downArrivals, this.toBridgeDown)) {
        if (e.data.includes('"input_audio_buffer.speech_started"')) {
          this.#speechStartedAt.set(socket, now);
        }
      }
      this.#sweep(now);
    };
  }

  /** Times each append the bridge sends on a model socket. */
  #watchModelSend(socket: WebSocket): void {
    this.#afterSend(socket, (text, now) => {
      const key = stampAfter(text, '"audio":"');
      if (!key) return;
      const arrival = this.#upArrivals.get(key);
      if (!arrival) return;
      this.#upArrivals.delete(key);
      this.up.add(now - arrival.at);
    });
  }

  /** Replaces `socket.send` with one that reports text messages after sending them. */
  #afterSend(socket: WebSocket, seen: (text: string, now: number) => void): void {
    const send = socket.send.bind(socket);
    socket.send = (data) => {
      send(data);
      if (typeof data === "string") seen(data, performance.now());
    };
  }

  /** Drops arrivals that never left (e.g. audio dropped on purpose after a barge-in). */
  #sweep(now: number): void {
    if (now - this.#lastSweep < FORGET_AFTER_MS) return;
    this.#lastSweep = now;
    for (const arrivals of [this.#upArrivals, this.#downArrivals]) {
      for (const [key, arrival] of arrivals) {
        if (now - arrival.at > FORGET_AFTER_MS) arrivals.delete(key);
      }
    }
  }
}

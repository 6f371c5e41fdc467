/**
 * What the load harness's processes share by convention rather than by memory: the
 * credentials of the loopback setup, the frame stamps, caller numbers that name the call,
 * a violations counter, and the single ticker that drives every caller (or every model
 * session) of one process in real time.
 *
 * Stamps: in `pcmu` mode every 160-byte frame (both directions) starts with a 20-byte
 * stamp (magic; call index for caller frames, model session index for model frames;
 * frame sequence; wall-clock send time as float64 ms, which the in-bridge probes read in
 * the bridge process) that the bridge carries through untouched, so the receiver knows
 * exactly which frame arrived and for which call. In `pcm16` mode the bridge transcodes,
 * so bytes cannot carry a stamp: frames are matched by arrival order instead (see
 * `timeline.ts`).
 *
 * @module
 */

/** Public origin the callers sign for (the bridge listens on loopback). */
export const LOAD_PUBLIC_URL = "https://voice.example.com";
/** Twilio auth token shared by the bridge and the callers. */
export const LOAD_AUTH_TOKEN = "load-test-auth-token";
/** API key the load fake model accepts. */
export const LOAD_API_KEY = "sk-load-fake";

/** 20 ms of 8 kHz mu-law. */
export const FRAME_BYTES = 160;
/** One frame's duration. */
export const FRAME_MS = 20;
const MAGIC = 0x4c44_5354; // "LDST"
/** Bytes at the start of a stamped frame. */
export const STAMP_BYTES = 20;
/** Bytes that name the frame (magic, call or session, sequence): unique per direction. */
export const STAMP_ID_BYTES = 12;

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Writes the stamp of frame `seq` of call or session `sessionOrCall` into `frame`, with
 * the wall-clock send time (default now: call it right before sending).
 */
export function writeStamp(
  frame: Uint8Array,
  sessionOrCall: number,
  seq: number,
  sentAt: number = wallClockMs(),
): void {
  const v = new DataView(frame.buffer, frame.byteOffset, STAMP_BYTES);
  v.setUint32(0, MAGIC);
  v.setUint32(4, sessionOrCall);
  v.setUint32(8, seq);
  v.setFloat64(12, sentAt);
}

/** Bytes of a frame's head that hold the stamp, rounded up to whole base64 groups. */
const HEAD_BYTES = 21;

/**
 * Builds stamped frames whose bytes after the stamp are one constant value, as base64:
 * only the 21-byte head (the stamp and one filler byte; 21 is a whole number of base64
 * groups) is encoded per frame, the rest once. The load fakes send a frame every 20 ms
 * per call, so this keeps their own cost per frame small.
 */
export class StampedFrames {
  readonly #head = new Uint8Array(HEAD_BYTES);
  readonly #tail: string;

  /** @param fill the byte every frame holds after its stamp */
  constructor(fill: number) {
    this.#head.fill(fill);
    this.#tail = new Uint8Array(FRAME_BYTES - HEAD_BYTES).fill(fill).toBase64();
  }

  /** The base64 of a 160-byte frame stamped with `sessionOrCall`, `seq` and `sentAt`. */
  base64(sessionOrCall: number, seq: number, sentAt: number): string {
    writeStamp(this.#head, sessionOrCall, seq, sentAt);
    return this.#head.toBase64() + this.#tail;
  }
}

/** The wall-clock send time in a stamp's bytes (at least {@linkcode STAMP_BYTES}). */
export function stampSentAt(stamp: Uint8Array): number {
  return new DataView(stamp.buffer, stamp.byteOffset, STAMP_BYTES).getFloat64(12);
}

/** Reads a stamp; undefined when the bytes do not start with one. */
export function readStamp(
  frame: Uint8Array,
): { sessionOrCall: number; seq: number } | undefined {
  if (frame.length < STAMP_ID_BYTES) return undefined;
  const v = new DataView(frame.buffer, frame.byteOffset, STAMP_ID_BYTES);
  if (v.getUint32(0) !== MAGIC) return undefined;
  return { sessionOrCall: v.getUint32(4), seq: v.getUint32(8) };
}

/**
 * What a harness process tallies besides timings: protocol problems it saw (should stay 0,
 * with the first few messages), frames out of order, and the messages it received from
 * the bridge by kind (to compare how many messages each bridge spends per frame).
 */
export class Violations {
  count = 0;
  /** First few messages, for the report. */
  readonly log: string[] = [];
  /** Frames that arrived out of order or with a foreign stamp. */
  misordered = 0;
  /** Messages received from the bridge, by kind (e.g. `twilio:media`, `model:append`). */
  received: Record<string, number> = {};

  /** Records one. */
  add(message: string): void {
    this.count++;
    if (this.log.length < 10) this.log.push(message);
  }

  /** Counts one message received from the bridge. */
  receivedOne(kind: string): void {
    this.received[kind] = (this.received[kind] ?? 0) + 1;
  }
}

/** Caller numbers name the call: `+155577` and the call index in five digits. */
export function callerNumber(idx: number): string {
  if (!Number.isInteger(idx) || idx < 0 || idx > 99_999) throw new Error(`call index ${idx}`);
  return `+155577${String(idx).padStart(5, "0")}`;
}

/** The call index in the first caller number found in `text` (session instructions), or -1. */
export function callIndexIn(text: string): number {
  const m = /\+155577(\d{5})/.exec(text);
  return m ? Number(m[1]) : -1;
}

/** A participant advanced by the shared {@linkcode Ticker}. */
export interface Ticking {
  /** Does whatever is due at `now` (ms, `performance.now()`). */
  tick(now: number): void;
}

/**
 * One timer for every caller and model session of the harness (a timer per call would
 * cost more than the work): every `intervalMs` each participant sends what is due,
 * catching up on timer drift, so audio stays real time on average.
 */
export class Ticker {
  readonly #items = new Set<Ticking>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts ticking. */
  start(intervalMs = 2): void {
    this.#timer ??= setInterval(() => {
      const now = performance.now();
      for (const item of this.#items) item.tick(now);
    }, intervalMs);
  }

  /** Adds a participant. */
  add(item: Ticking): void {
    this.#items.add(item);
  }

  /** Removes a participant. */
  delete(item: Ticking): void {
    this.#items.delete(item);
  }

  /** Stops ticking. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

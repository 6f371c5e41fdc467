/**
 * Shared measurement state of a load run: one {@linkcode CallProbe} per simulated call,
 * read and written by both the lean caller and the lean fake model (they live in the
 * same harness process, so they share one clock and one memory), plus frame stamps and
 * the single ticker that drives every caller and model session in real time.
 *
 * Stamps: in `pcmu` mode every 160-byte frame (both directions) starts with a 20-byte
 * stamp (magic; call index for caller frames, model session index for model frames;
 * frame sequence; wall-clock send time as float64 ms, which `bridge_probe.ts` reads in
 * the bridge process) that the bridge carries through untouched,
 * so the receiver knows exactly which frame arrived and for which call. In `pcm16` mode
 * the bridge transcodes, so bytes cannot carry a stamp: frames are matched by arrival
 * order instead (the n-th 20 ms of audio received is the n-th sent; the transcoder maps
 * one 20 ms frame to one 20 ms frame), and the count check finds any loss.
 *
 * @module
 */
import { Float64List, Samples } from "./stats.ts";

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
 * the wall-clock time now (call it right before sending).
 */
export function writeStamp(frame: Uint8Array, sessionOrCall: number, seq: number): void {
  const v = new DataView(frame.buffer, frame.byteOffset, STAMP_BYTES);
  v.setUint32(0, MAGIC);
  v.setUint32(4, sessionOrCall);
  v.setUint32(8, seq);
  v.setFloat64(12, wallClockMs());
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

/** Every latency distribution of a run (ms), recorded only while measuring. */
export class RunStats {
  /** Caller frame sent -> append arrives at the model. */
  readonly up: Samples = new Samples();
  /** Model delta sent -> media arrives at the caller. */
  readonly down: Samples = new Samples();
  /** First delta of a response sent -> its first media at the caller. */
  readonly turn: Samples = new Samples();
  /** Model sent speech_started (barge-in) -> `clear` arrives at the caller. */
  readonly bargeIn: Samples = new Samples();
  /** Whether samples are recorded now (the measurement window). */
  measuring = false;
  /** Protocol problems seen by the fakes (should stay 0). */
  violations = 0;
  /** First few violation messages, for the report. */
  readonly violationLog: string[] = [];
  /** Barge-ins the model made, and clears the callers received for them. */
  bargeInsSent = 0;
  clearsReceived = 0;
  /** Frames that arrived out of order or with a foreign stamp. */
  misordered = 0;

  /** Records a protocol violation. */
  violation(message: string): void {
    this.violations++;
    if (this.violationLog.length < 10) this.violationLog.push(message);
  }
}

/** The model-to-caller audio of one model session (written by the fake model). */
export class DownStream {
  /** Model deltas (20 ms each): send time by sequence. */
  readonly sent: Float64List = new Float64List();
  /** Sequences of deltas that opened a response (for turn latency). */
  readonly firstOfResponse: Set<number> = new Set();
  /** When the model last sent a barge-in `speech_started` (NaN when none is pending). */
  bargeSentAt = NaN;
  /** @param idx session index (in the stamps of model audio) */
  constructor(readonly idx: number) {}
}

/** One simulated call as both fakes see it. */
export class CallProbe {
  /** Caller frames: send time by sequence. */
  readonly upSent: Float64List = new Float64List();
  /** Caller frames the model received, and the last sequence seen. */
  upReceived = 0;
  /**
   * First caller frame sent after the caller heard the greeting: from there on the model
   * session is open on any bridge, so every frame must arrive (the baseline, like the
   * sample it follows, drops audio while its model socket is still opening).
   */
  steadyFromSeq = Infinity;
  /** Caller frames from `steadyFromSeq` on that the model received. */
  upReceivedSteady = 0;
  upLastSeq = -1;
  /** The model session serving this call, once known (by instructions or by stamps). */
  down: DownStream | undefined;
  /** Model frames the caller received, and the last sequence seen. */
  downReceived = 0;
  downLastSeq = -1;
  /** True while the simulated caller is talking (the caller sends louder audio). */
  talking = false;

  /** @param idx call index (in stamps); @param from caller number (in the model's instructions) */
  constructor(readonly idx: number, readonly from: string) {}
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

/** Registry of the calls of a run, by index and by caller number. */
export class ProbeRegistry {
  readonly calls: CallProbe[] = [];
  /** Model sessions' audio streams, by session index. */
  readonly sessions: DownStream[] = [];
  readonly #byFrom = new Map<string, CallProbe>();
  readonly stats: RunStats = new RunStats();
  /** Caller numbers are E.164 and encode the index, e.g. `+15550100007`. */
  create(): CallProbe {
    const idx = this.calls.length;
    const probe = new CallProbe(idx, `+1555${String(10_000_000 + idx).slice(1)}`);
    this.calls.push(probe);
    this.#byFrom.set(probe.from, probe);
    return probe;
  }
  /** Registers a new model session's audio stream. */
  createSession(): DownStream {
    const down = new DownStream(this.sessions.length);
    this.sessions.push(down);
    return down;
  }
  /** The call with this index. */
  byIndex(idx: number): CallProbe | undefined {
    return this.calls[idx];
  }
  /** The call whose number appears in `text` (the session instructions), if any. */
  findIn(text: string): CallProbe | undefined {
    for (const m of text.matchAll(/\+1555\d{7}/g)) {
      const p = this.#byFrom.get(m[0]);
      if (p) return p;
    }
    return undefined;
  }
}

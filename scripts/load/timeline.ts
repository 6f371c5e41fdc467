/**
 * What the harness processes record during a load run, and the join that turns those
 * records into latencies and losses.
 *
 * The simulated callers and the fake model run in several processes, so no process sees
 * both ends of a frame. Each side therefore only writes down wall-clock times
 * ({@linkcode wallClockMs}, which agree across the processes of one machine to about
 * 0.1 ms): a caller the send time of each of its frames and the arrival time of each model
 * frame it hears, a model session the send time of each delta and the arrival time of each
 * caller frame. After the run the coordinator reads every record and joins them here.
 *
 * Frames are named by the stamp the fakes write into each mu-law frame (see `probe.ts`):
 * call or session index and sequence. In `pcm16` the bridge transcodes, so no stamp
 * survives: the n-th 20 ms received is matched with the n-th sent (the transcoder maps one
 * 20 ms frame to one 20 ms frame).
 *
 * @module
 */
import { Float64List, Samples } from "./stats.ts";

/** What one simulated caller recorded (times are wall-clock ms). */
export interface CallRecord {
  /** Call index (in the caller's stamps and its phone number). */
  idx: number;
  /** Send time of caller frame `seq`, by seq. */
  upSent: Float64Array;
  /**
   * Arrival times of model frames. `pcmu`: by model session index (decimal string), then by
   * that session's frame seq (NaN where none arrived). `pcm16`: one list under "order",
   * the n-th 20 ms heard at index n.
   */
  down: Record<string, Float64Array>;
  /** Arrival times of the bridge's `clear` messages. */
  clears: Float64Array;
}

/** What one fake model session recorded (times are wall-clock ms). */
export interface SessionRecord {
  /** Session index (in the stamps of its audio). */
  idx: number;
  /** The call it serves, learnt from the instructions or the caller stamps (-1: none). */
  callIdx: number;
  /**
   * Arrival time of caller audio: `pcmu` by caller frame seq (NaN where none arrived);
   * `pcm16` the n-th 20 ms received at index n.
   */
  upArrived: Float64Array;
  /** Send time of each audio delta (one 20 ms frame each), by seq. */
  downSent: Float64Array;
  /** Seqs of the deltas that opened a response (turn latency). */
  firstOfResponse: number[];
  /** When the model sent each barge-in `speech_started`. */
  bargeSent: Float64Array;
}

/** A record as written to disk: every Float64Array as base64 of its bytes. */
type Encoded<T> = {
  [K in keyof T]: T[K] extends Float64Array ? string
    : T[K] extends Record<string, Float64Array> ? Record<string, string>
    : T[K];
};

/** Base64 of a Float64Array's bytes (little-endian, as the machine stores them). */
export function encodeF64(a: Float64Array | Float64List): string {
  const values = a instanceof Float64List ? a.values() : a;
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).toBase64();
}

/** The inverse of {@linkcode encodeF64}. */
export function decodeF64(s: string): Float64Array {
  const bytes = Uint8Array.fromBase64(s);
  return new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
}

/** A call record for JSON. */
export function encodeCall(r: CallRecord): Encoded<CallRecord> {
  return {
    idx: r.idx,
    upSent: encodeF64(r.upSent),
    down: Object.fromEntries(Object.entries(r.down).map(([k, v]) => [k, encodeF64(v)])),
    clears: encodeF64(r.clears),
  };
}

/** A call record from JSON. */
export function decodeCall(e: Encoded<CallRecord>): CallRecord {
  return {
    idx: e.idx,
    upSent: decodeF64(e.upSent),
    down: Object.fromEntries(Object.entries(e.down).map(([k, v]) => [k, decodeF64(v)])),
    clears: decodeF64(e.clears),
  };
}

/** A session record for JSON. */
export function encodeSession(r: SessionRecord): Encoded<SessionRecord> {
  return {
    idx: r.idx,
    callIdx: r.callIdx,
    upArrived: encodeF64(r.upArrived),
    downSent: encodeF64(r.downSent),
    firstOfResponse: r.firstOfResponse,
    bargeSent: encodeF64(r.bargeSent),
  };
}

/** A session record from JSON. */
export function decodeSession(e: Encoded<SessionRecord>): SessionRecord {
  return {
    idx: e.idx,
    callIdx: e.callIdx,
    upArrived: decodeF64(e.upArrived),
    downSent: decodeF64(e.downSent),
    firstOfResponse: e.firstOfResponse,
    bargeSent: decodeF64(e.bargeSent),
  };
}

/** Everything the join finds. Latencies in ms, only for events sent inside the window. */
export interface Joined {
  /** Caller frame sent -> append at the model. */
  up: Samples;
  /** Model delta sent -> media at the caller. */
  down: Samples;
  /** First delta of a response sent -> its media at the caller. */
  turn: Samples;
  /** The model's barge-in `speech_started` sent -> `clear` at the caller. */
  bargeIn: Samples;
  /** Frames sent inside the window that arrived (the frames the bridge relayed then). */
  upRelayed: number;
  downRelayed: number;
  /** Caller frames sent inside the window (whether or not they arrived). */
  upSentInWindow: number;
  /** Frames sent during the whole run. */
  framesUp: number;
  framesDown: number;
  /** Caller frames lost after the first one that reached the model (per call). */
  upLost: number;
  /** Caller frames lost, call setup included. */
  upLostWithSetup: number;
  /**
   * Model frames that never reached their caller, after the first one the caller heard from
   * that session (a session the call was bound to but never heard counts whole).
   */
  downLost: number;
  /** Model frames that never reached a caller, call setup included. */
  downLostWithSetup: number;
  /** Barge-ins the model made, and how many a `clear` answered (within 2 s). */
  bargeInsSent: number;
  clearsReceived: number;
  /** Calls no model session was bound to. */
  unboundCalls: number;
}

/** A `clear` later than this after a barge-in does not answer it. */
const CLEAR_WITHIN_MS = 2000;
/** Clock agreement between processes: a clear this much "before" its barge-in still counts. */
const CLOCK_SLACK_MS = 0.5;

/** Sessions' per-index lists, concatenated in the order the sessions started. */
function concatByStart(lists: Float64Array[]): Float64Array {
  if (lists.length === 1) return lists[0];
  const first = (a: Float64Array) => a.find((v) => !Number.isNaN(v)) ?? Infinity;
  const sorted = [...lists].sort((a, b) => first(a) - first(b));
  const out = new Float64Array(sorted.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of sorted) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/** Element-wise union of lists indexed by the same seq (first defined value wins). */
function mergeBySeq(lists: Float64Array[]): Float64Array {
  if (lists.length === 1) return lists[0];
  const out = new Float64Array(Math.max(0, ...lists.map((a) => a.length))).fill(NaN);
  for (const a of lists) {
    for (let i = 0; i < a.length; i++) if (Number.isNaN(out[i])) out[i] = a[i];
  }
  return out;
}

const EMPTY = new Float64Array(0);

/**
 * Joins the records of one run. `window` is the measurement window (wall-clock ms, start
 * inclusive, end exclusive): latencies and relayed-frame counts only count what was sent
 * inside it; losses count the whole run.
 */
export function joinRecords(
  calls: CallRecord[],
  sessions: SessionRecord[],
  format: "pcmu" | "pcm16",
  window: [number, number],
): Joined {
  const [from, to] = window;
  const inWindow = (t: number) => t >= from && t < to;
  const j: Joined = {
    up: new Samples(),
    down: new Samples(),
    turn: new Samples(),
    bargeIn: new Samples(),
    upRelayed: 0,
    downRelayed: 0,
    upSentInWindow: 0,
    framesUp: 0,
    framesDown: 0,
    upLost: 0,
    upLostWithSetup: 0,
    downLost: 0,
    downLostWithSetup: 0,
    bargeInsSent: 0,
    clearsReceived: 0,
    unboundCalls: 0,
  };
  const sessionsOf = new Map<number, SessionRecord[]>();
  for (const s of sessions) {
    if (s.callIdx < 0) continue;
    const list = sessionsOf.get(s.callIdx) ?? [];
    list.push(s);
    sessionsOf.set(s.callIdx, list);
  }
  const byIdx = new Map(sessions.map((s) => [s.idx, s]));
  let downReceived = 0;
  for (const s of sessions) j.framesDown += s.downSent.length;

  for (const c of calls) {
    const own = sessionsOf.get(c.idx) ?? [];
    if (own.length === 0) j.unboundCalls++;

    // Up: caller frame seq -> arrival at the model.
    const arrived = own.length === 0
      ? EMPTY
      : format === "pcmu"
      ? mergeBySeq(own.map((s) => s.upArrived))
      : concatByStart(own.map((s) => s.upArrived));
    let firstReceived = -1;
    j.framesUp += c.upSent.length;
    for (let seq = 0; seq < c.upSent.length; seq++) {
      if (inWindow(c.upSent[seq])) j.upSentInWindow++;
      const at = seq < arrived.length ? arrived[seq] : NaN;
      if (Number.isNaN(at)) {
        j.upLostWithSetup++;
        if (firstReceived >= 0) j.upLost++;
        continue;
      }
      if (firstReceived < 0) firstReceived = seq;
      const sent = c.upSent[seq];
      if (inWindow(sent)) {
        j.up.add(at - sent);
        j.upRelayed++;
      }
    }

    // Down: model frame seq -> arrival at the caller.
    const pairs: { session: SessionRecord; heard: Float64Array }[] = [];
    if (format === "pcmu") {
      for (const [key, heard] of Object.entries(c.down)) {
        const session = byIdx.get(Number(key));
        if (session) pairs.push({ session, heard });
      }
      for (const session of own) {
        if (!(String(session.idx) in c.down)) pairs.push({ session, heard: EMPTY });
      }
    } else if (own.length > 0) {
      // By order: the sessions' frames one after the other, as the caller heard them.
      const heard = c.down.order ?? EMPTY;
      let at = 0;
      const byStart = [...own].sort((a, b) => (a.downSent[0] ?? 0) - (b.downSent[0] ?? 0));
      for (const session of byStart) {
        pairs.push({ session, heard: heard.subarray(at, at + session.downSent.length) });
        at += session.downSent.length;
      }
    }
    for (const { session, heard } of pairs) {
      const firsts = new Set(session.firstOfResponse);
      let heardAny = false;
      for (let seq = 0; seq < session.downSent.length; seq++) {
        const at = seq < heard.length ? heard[seq] : NaN;
        if (Number.isNaN(at)) {
          if (heardAny) j.downLost++;
          continue;
        }
        heardAny = true;
        downReceived++;
        const sent = session.downSent[seq];
        if (!inWindow(sent)) continue;
        j.down.add(at - sent);
        j.downRelayed++;
        if (firsts.has(seq)) j.turn.add(at - sent);
      }
      if (!heardAny && session.callIdx === c.idx) j.downLost += session.downSent.length;
    }

    // Barge-in: each speech_started the model sent to interrupt -> the next clear.
    const barges = own.flatMap((s) => [...s.bargeSent]).sort((a, b) => a - b);
    j.bargeInsSent += barges.length;
    let k = 0;
    for (const b of barges) {
      while (k < c.clears.length && c.clears[k] < b - CLOCK_SLACK_MS) k++;
      if (k >= c.clears.length || c.clears[k] - b > CLEAR_WITHIN_MS) continue;
      j.clearsReceived++;
      if (inWindow(b)) j.bargeIn.add(c.clears[k] - b);
      k++;
    }
  }
  j.downLostWithSetup = j.framesDown - downReceived;
  return j;
}

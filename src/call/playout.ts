/**
 * What the caller has actually heard of the agent's audio.
 *
 * Twilio plays media in order and echoes a mark once the audio queued before it has
 * played, but it ALSO echoes every pending mark when a `clear` flushes the buffer, so an
 * echo alone does not prove the audio was heard. This tracker records each chunk sent
 * (item id, cumulative ms) and takes genuine echoes as proof of play. On barge-in it
 * estimates the playhead twice: from the last proof (which arrives one network trip
 * after the audio ended, so it runs late) and from the send schedule (which assumes
 * playback starts the moment audio is sent, so it runs early), and takes the midpoint:
 * with a symmetric network path the two errors cancel. The result is the `audio_end_ms`
 * for `conversation.item.truncate`: integer, never more than the audio sent for the item.
 *
 * Marks are thinned: one per {@linkcode MARK_INTERVAL_MS} of audio (and one at the end of
 * each stretch of audio, via {@linkcode Playout.markTail}). Every mark costs two WebSocket
 * messages (ours and Twilio's echo), as many as the audio itself when chunks are 20 ms;
 * an echo proves every chunk before it too, so coarser proof loses nothing the playhead
 * estimate needs (it walks forward from the last proof either way).
 *
 * Pure bookkeeping: no sockets, time comes from an injected clock.
 *
 * @module
 */

import { MULAW_BYTES_PER_MS } from "../codec/mulaw.ts";

/**
 * An item heard to within this of its end counts as heard in full (ms): more than the
 * ~85 ms by which the server's item length runs short of the audio streamed (pipecat#2106).
 */
export const FULLY_HEARD_MARGIN_MS = 100;

/**
 * Audio sent between two marks, at most (ms), unless a chunk alone is longer. 200 ms: the
 * playhead is walked forward from the last proof either way, so coarser proof costs no
 * accuracy while playback runs (the barge-in e2e tests truncated within 1-26 ms of the
 * truth at 100, 200 and 300 ms alike), and each mark saved is two WebSocket messages.
 */
export const MARK_INTERVAL_MS = 200;

/**
 * Audio sent and not yet proven played: one chunk, or several chunks of one item sent
 * back to back (each before the one before it would have finished playing by the send
 * schedule), which every estimate below treats exactly as the chunks one by one.
 */
interface PendingChunk {
  /** Set on the chunk a mark follows; unmarked chunks are proven by the next mark. */
  mark?: string;
  itemId: string;
  /** Item audio position (ms) where this chunk starts and ends. */
  startMs: number;
  endMs: number;
  /** Clock time the chunk was handed to Twilio. */
  sentAt: number;
  /** When it would start playing if playback began the moment audio was sent. */
  scheduledAt: number;
}

/** A truncation to send to the model after a barge-in. */
export interface Truncation {
  itemId: string;
  /** Integer ms of the item's audio the caller heard. */
  audioEndMs: number;
}

/** Tracks sent audio and Twilio mark echoes for one call. */
export class Playout {
  #clock: () => number;
  #seq = 0;
  #pending: PendingChunk[] = [];
  /** Marks flushed by a `clear`: their echoes prove nothing and are ignored. */
  #flushed = new Set<string>();
  /** Audio sent per item, ms; the item being sent is kept apart (no map per chunk). */
  #sentMs = new Map<string, number>();
  #currentItem: string | undefined;
  #currentSentMs = 0;
  #heardMs = new Map<string, number>();
  #lastProofAt = -Infinity;
  /** When the audio sent so far would finish playing, by the send schedule. */
  #scheduleEnd = -Infinity;
  #drainWaiters: Array<() => void> = [];
  #markIntervalMs: number;
  #fullyHeardMarginMs: number;
  /** Audio (ms) sent since the last mark. */
  #unmarkedMs = 0;

  /**
   * @param clock milliseconds, monotonic (e.g. `performance.now`)
   * @param markIntervalMs audio between marks (0: a mark after every chunk)
   * @param fullyHeardMarginMs an item heard to within this of its end is not truncated
   */
  constructor(
    clock: () => number = () => performance.now(),
    markIntervalMs: number = MARK_INTERVAL_MS,
    fullyHeardMarginMs: number = FULLY_HEARD_MARGIN_MS,
  ) {
    this.#clock = clock;
    this.#markIntervalMs = markIntervalMs;
    this.#fullyHeardMarginMs = fullyHeardMarginMs;
  }

  /**
   * Records a chunk of `bytes` mu-law bytes of `itemId` just sent to Twilio. Returns the
   * mark name to send right after it once {@linkcode MARK_INTERVAL_MS} of audio has gone
   * unmarked, else undefined. When the audio stops, call {@linkcode markTail}.
   */
  chunkSent(itemId: string, bytes: number): string | undefined {
    const ms = bytes / MULAW_BYTES_PER_MS;
    if (itemId !== this.#currentItem) {
      if (this.#currentItem !== undefined) this.#sentMs.set(this.#currentItem, this.#currentSentMs);
      this.#currentItem = itemId;
      this.#currentSentMs = this.#sentMs.get(itemId) ?? 0;
    }
    const startMs = this.#currentSentMs;
    const endMs = startMs + ms;
    this.#currentSentMs = endMs;
    const sentAt = this.#clock();
    const last = this.#pending.at(-1);
    if (
      last !== undefined && last.mark === undefined && last.itemId === itemId &&
      last.endMs === startMs && sentAt <= this.#scheduleEnd
    ) {
      // Back to back: it plays right after the last chunk by the schedule, and no earlier
      // by proof either (see #playheadFromProof), so one record holds both.
      last.endMs = endMs;
      this.#scheduleEnd += ms;
    } else {
      const scheduledAt = Math.max(sentAt, this.#scheduleEnd);
      this.#scheduleEnd = scheduledAt + ms;
      this.#pending.push({ itemId, startMs, endMs, sentAt, scheduledAt });
    }
    this.#unmarkedMs += ms;
    return this.#unmarkedMs >= this.#markIntervalMs ? this.markTail() : undefined;
  }

  /**
   * Returns a mark for the audio sent since the last mark (send it right away), or
   * undefined when there is none. Call it when a stretch of audio ends, so its echo
   * tells when everything has played.
   */
  markTail(): string | undefined {
    const last = this.#pending.at(-1);
    if (!last || last.mark !== undefined) return undefined;
    last.mark = `a${++this.#seq}`;
    this.#unmarkedMs = 0;
    return last.mark;
  }

  /**
   * Handles a mark echoed by Twilio. Returns false for marks that are not ours or were
   * flushed by a clear (those prove nothing).
   */
  markEchoed(name: string): boolean {
    if (this.#flushed.delete(name)) return false;
    const index = this.#pending.findIndex((c) => c.mark === name);
    if (index < 0) return false;
    // Echoes come in order: everything up to this mark has played.
    for (const chunk of this.#pending.splice(0, index + 1)) {
      this.#heardMs.set(chunk.itemId, chunk.endMs);
    }
    this.#lastProofAt = this.#clock();
    if (this.#pending.length === 0) this.#notifyDrained();
    return true;
  }

  /** True while audio has been sent that Twilio has not confirmed as played. */
  hasUnplayed(): boolean {
    return this.#pending.length > 0;
  }

  /** Milliseconds of `itemId` audio sent to Twilio so far. */
  sentMs(itemId: string): number {
    return itemId === this.#currentItem ? this.#currentSentMs : this.#sentMs.get(itemId) ?? 0;
  }

  /** Milliseconds of `itemId` audio confirmed played (by genuine mark echoes). */
  confirmedMs(itemId: string): number {
    return this.#heardMs.get(itemId) ?? 0;
  }

  /**
   * Call on barge-in, right after sending Twilio `clear`: returns one truncation per item
   * the caller did not hear to the end, and forgets the flushed chunks (their echoes will
   * be ignored). An item heard to within {@linkcode FULLY_HEARD_MARGIN_MS} of its end is
   * not truncated: truncating deletes its transcript on the server, and the server's idea
   * of an item's length runs shorter than the bytes streamed (so its last ms may be
   * refused). Returns an empty list when nothing was pending.
   */
  interrupt(): Truncation[] {
    if (this.#pending.length === 0) return [];
    const now = this.#clock();
    const byProof = this.#playheadFromProof(now);
    const bySchedule = this.#playheadFromSchedule(now);
    for (const chunk of this.#pending) if (chunk.mark) this.#flushed.add(chunk.mark);
    this.#pending = [];
    this.#unmarkedMs = 0;
    this.#scheduleEnd = -Infinity;
    this.#notifyDrained();
    const truncations: Truncation[] = [];
    for (const [itemId, proofMs] of byProof) {
      const ms = (proofMs + (bySchedule.get(itemId) ?? proofMs)) / 2;
      const capped = Math.min(ms, this.sentMs(itemId));
      const audioEndMs = Math.max(0, Math.floor(capped));
      this.#heardMs.set(itemId, audioEndMs);
      if (audioEndMs < this.sentMs(itemId) - this.#fullyHeardMarginMs) {
        truncations.push({ itemId, audioEndMs });
      }
    }
    return truncations;
  }

  /**
   * Playhead per pending item, walking forward from the last genuine echo. A chunk cannot
   * play before it was sent (`t = max(t, sentAt)`); a chunk sent while the one before it
   * still had audio to play by the schedule never moves `t` here, since an echo comes only
   * after the audio played, which is no earlier than the schedule: so chunks sent back to
   * back can share one record.
   */
  #playheadFromProof(now: number): Map<string, number> {
    const heard = new Map<string, number>();
    let t = Math.max(this.#pending[0].sentAt, this.#lastProofAt);
    let playing = true;
    for (const chunk of this.#pending) {
      if (!heard.has(chunk.itemId)) heard.set(chunk.itemId, chunk.startMs);
      if (!playing) continue;
      t = Math.max(t, chunk.sentAt);
      const duration = chunk.endMs - chunk.startMs;
      if (now >= t + duration) {
        heard.set(chunk.itemId, chunk.endMs);
        t += duration;
      } else {
        heard.set(chunk.itemId, chunk.startMs + Math.max(0, now - t));
        playing = false;
      }
    }
    return heard;
  }

  /** Playhead per pending item, by the send schedule. */
  #playheadFromSchedule(now: number): Map<string, number> {
    const heard = new Map<string, number>();
    for (const chunk of this.#pending) {
      const duration = chunk.endMs - chunk.startMs;
      const played = Math.min(duration, Math.max(0, now - chunk.scheduledAt));
      if (!heard.has(chunk.itemId) || played > 0) {
        heard.set(chunk.itemId, chunk.startMs + played);
      }
    }
    return heard;
  }

  /**
   * How long to wait for {@linkcode whenDrained} at most, ms: until the audio sent would
   * have played by the send schedule, plus `marginMs` for the network and the echo.
   */
  drainDeadlineMs(marginMs = 3000): number {
    if (this.#pending.length === 0) return 0;
    return Math.max(0, this.#scheduleEnd - this.#clock()) + marginMs;
  }

  /** Resolves once every chunk sent so far has been played (or flushed). */
  whenDrained(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #notifyDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

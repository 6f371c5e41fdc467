/**
 * The agent's voice on its way to the caller: model audio deltas are converted, cut into
 * whole 20 ms frames and sent to Twilio with thinned marks, so {@linkcode Playout} always
 * knows what the caller has heard. On barge-in it clears Twilio's buffer first, then
 * works out how much of each item was heard (the truncations), and from then on drops
 * whatever the interrupted response still sends.
 *
 * @module
 */
import { MULAW_FRAME_BYTES } from "../codec/mulaw.ts";
import { strictBase64Bytes } from "../codec/base64.ts";
import type { AudioPath } from "./audio_path.ts";
import { FrameAligner } from "./frame_aligner.ts";
import { Playout, type Truncation } from "./playout.ts";
import type { CallerStream } from "./ports.ts";
import type { AgentAudioTap } from "./call_tap.ts";

/** What happened to one model audio delta. */
export type DeltaResult = "sent" | "silenced" | "undecodable";

/** Options of {@linkcode AgentAudio}. */
export interface AgentAudioOptions {
  stream: CallerStream;
  audio: AudioPath;
  /** Monotonic ms. */
  now: () => number;
  /** Agent audio between marks, ms. */
  markIntervalMs: number;
  /** Called for every chunk handed to Twilio, with its size in frames. */
  onSent(frames: number): void;
  /** Sees the audio sent and what a clear took back (the recording). */
  tap?: AgentAudioTap;
}

/** How many silenced response ids are remembered (ids never recur). */
const SILENCED_KEPT = 32;

/** One call's outbound audio. */
export class AgentAudio {
  readonly #o: AgentAudioOptions;
  readonly #aligner = new FrameAligner();
  readonly #playout: Playout;
  #itemId: string | undefined;
  #activeResponseId: string | undefined;
  /** Responses whose audio must not reach the caller: interrupted, or already done. */
  readonly #silenced = new Set<string>();
  /** Recent responses that sent audio (to tell a text-only reply). */
  readonly #spoken = new Set<string>();

  constructor(options: AgentAudioOptions) {
    this.#o = options;
    this.#playout = new Playout(options.now, options.markIntervalMs);
  }

  /** Audio was sent that Twilio has not confirmed as played. */
  get playing(): boolean {
    return this.#playout.hasUnplayed();
  }

  /** A response started: its audio is the one a barge-in interrupts. */
  responseStarted(responseId: string | undefined): void {
    this.#activeResponseId = responseId;
  }

  /** A model audio delta (base64 in the session's output format). */
  delta(responseId: string, itemId: string, base64: string): DeltaResult {
    if (this.#silenced.has(responseId)) return "silenced";
    if (itemId !== this.#itemId) {
      this.flush();
      this.#itemId = itemId;
    }
    // Pass-through with nothing carried: whole frames go out as the base64 they came in.
    const length = this.#o.audio.passThrough && this.#aligner.pending === 0
      ? strictBase64Bytes(base64)
      : -1;
    if (length > 0 && length % MULAW_FRAME_BYTES === 0) {
      this.#sendBase64(itemId, base64, length);
    } else {
      let mulaw: Uint8Array;
      try {
        mulaw = this.#o.audio.toCaller(base64);
      } catch {
        return "undecodable";
      }
      this.#aligner.append(mulaw);
      this.#send(itemId, this.#aligner.takeAligned());
    }
    if (!this.#spoken.has(responseId)) {
      this.#spoken.add(responseId);
      if (this.#spoken.size > SILENCED_KEPT) {
        this.#spoken.delete(this.#spoken.values().next().value!);
      }
    }
    return "sent";
  }

  /** An item's audio is complete. */
  itemDone(itemId: string): void {
    if (itemId === this.#itemId) this.flush();
  }

  /** Whether any audio of `responseId` was sent to the caller. */
  spoke(responseId: string): boolean {
    return this.#spoken.has(responseId);
  }

  /** A response is over: nothing it sends later is played. */
  responseDone(responseId: string): void {
    if (responseId === this.#activeResponseId) this.#activeResponseId = undefined;
    this.#silence(responseId);
    this.flush();
  }

  /** Sends what the aligner holds and marks the end of the audio sent so far. */
  flush(): void {
    if (this.#itemId !== undefined) this.#send(this.#itemId, this.#aligner.flush());
    const mark = this.#playout.markTail();
    if (mark !== undefined) this.#o.stream.mark(mark);
  }

  /** A Twilio mark echo. */
  markEchoed(name: string): void {
    this.#playout.markEchoed(name);
  }

  /**
   * The caller started talking. The interrupted response is silenced; if audio is still
   * playing (and `clear` is allowed), Twilio's buffer is cleared first, then the
   * truncations (what was heard of each item) are returned. Undefined when nothing
   * was cleared.
   */
  interrupt(clear: boolean): Truncation[] | undefined {
    if (this.#activeResponseId !== undefined) this.#silence(this.#activeResponseId);
    this.#aligner.reset();
    this.#o.audio.resetOutbound();
    if (!this.#playout.hasUnplayed() || !clear) return undefined;
    this.#o.stream.clear(); // first, before anything else: stop the sound now
    const truncations = this.#playout.interrupt();
    this.#o.tap?.agentCleared(truncations, this.#o.now());
    return truncations;
  }

  /** Plays prepared mu-law audio (the apology) at once, cutting off whatever was playing. */
  playPrompt(mulaw: Uint8Array, name: string): void {
    if (this.#activeResponseId !== undefined) this.#silence(this.#activeResponseId);
    if (this.#playout.hasUnplayed()) {
      this.#o.stream.clear();
      this.#o.tap?.agentCleared(this.#playout.interrupt(), this.#o.now());
    }
    this.#aligner.reset();
    this.#itemId = name;
    this.#aligner.append(mulaw);
    this.flush();
  }

  /** Plays prepared mu-law audio after whatever is still playing. */
  appendPrompt(mulaw: Uint8Array, name: string): void {
    if (this.#activeResponseId !== undefined) this.#silence(this.#activeResponseId);
    this.flush();
    this.#aligner.reset();
    this.#itemId = name;
    this.#aligner.append(mulaw);
    this.flush();
  }

  /** Resolves when everything sent has played, or after the schedule's deadline. */
  whenDrained(): Promise<void> {
    return this.#playout.whenDrained();
  }

  /** How long {@linkcode whenDrained} may take at most, ms. */
  drainDeadlineMs(): number {
    return this.#playout.drainDeadlineMs();
  }

  #send(itemId: string, mulaw: Uint8Array): void {
    if (mulaw.length === 0 || !this.#o.stream.sendAudio(mulaw)) return;
    this.#sent(itemId, mulaw.length, mulaw);
  }

  /** Whole frames of strict base64 (`length` bytes), sent without decoding. */
  #sendBase64(itemId: string, base64: string, length: number): void {
    if (!this.#o.stream.sendAudioBase64(base64)) return;
    this.#sent(itemId, length, undefined, base64);
  }

  /** Bookkeeping after a chunk went out: its mark, the recording (which gets the bytes). */
  #sent(itemId: string, length: number, mulaw?: Uint8Array, base64?: string): void {
    const mark = this.#playout.chunkSent(itemId, length);
    if (mark !== undefined) this.#o.stream.mark(mark);
    const tap = this.#o.tap;
    if (tap !== undefined) {
      tap.agentAudio(mulaw ?? Uint8Array.fromBase64(base64!), itemId, this.#o.now());
    }
    this.#o.onSent(length / MULAW_FRAME_BYTES);
  }

  #silence(responseId: string): void {
    this.#silenced.add(responseId);
    if (this.#silenced.size > SILENCED_KEPT) {
      this.#silenced.delete(this.#silenced.values().next().value!);
    }
  }
}

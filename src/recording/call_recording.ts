/**
 * One call's recording: a two-channel 8 kHz PCM16 WAV (caller left, agent right) written
 * to disk as the call goes, with memory bounded per call.
 *
 * The caller channel is what Twilio sent, placed by Twilio's `timestamp` (ms since the
 * stream started). The agent channel is what the caller actually heard: each chunk of
 * agent audio is placed where playback of it starts by the send schedule (the moment it
 * is sent, or when the audio before it ends), the same schedule {@linkcode Playout} uses;
 * on a `clear`, each interrupted item is cut where the truncation (the estimate the model
 * is told) says the caller stopped hearing it, and what a clear flushed never reaches the
 * file. Audio is held in memory for `holdMs` before it is written, so a clear can still
 * take it back; older audio is on disk. Both channels start at the stream's start and end
 * when the call ends, so their length is the call's duration.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { Clock, TimerHandle } from "../clock.ts";
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import { decodeMulaw, MULAW_BYTES_PER_MS } from "../codec/mulaw.ts";
import { type WavFormat, wavHeader } from "../codec/wav.ts";
import type { Truncation } from "../call/playout.ts";
import type { CallTap } from "../call/call_tap.ts";

/** The recording's format: what the call carried, both ways. */
export const RECORDING_FORMAT: WavFormat = { encoding: "pcm16", sampleRate: 8000, channels: 2 };

const SAMPLES_PER_MS = MULAW_BYTES_PER_MS; // 8 kHz: one mu-law byte per sample
const BYTES_PER_FRAME = 4; // two channels of 16-bit samples
const HEADER_BYTES = 44;
/** How far the caller's frames may move the stream's start back from the first guess, ms. */
export const MAX_ORIGIN_SHIFT_MS = 1000;
/** A caller frame timestamped further ahead of the clock than this is dropped, ms. */
const FUTURE_SLACK_MS = 1000;
/** Data size written in the header until the length is known (readers clamp to the file). */
const PLACEHOLDER_DATA_BYTES = 0x7fff_fff0;

/** What the call record keeps about a recording. */
export interface RecordingInfo {
  /** Absolute path of the WAV file. */
  path: string;
  /** `wav/pcm16/8000/stereo`: caller left, agent right. */
  format: string;
  /** When sample 0 was (the media stream's start), UTC ISO. */
  startedAt: string;
  /** Length of each channel, ms (the call's duration). */
  durationMs?: number;
  /** File size, bytes. */
  bytes?: number;
  /** Agent audio a clear took back after it had already been written, ms (0 normally). */
  lateCutMs?: number;
  /** Audio that could not be placed (arrived after its time was written, or over the cap), ms. */
  droppedMs?: number;
  /** Why the file is incomplete or missing, if it is. */
  error?: string;
}

/** Options of {@linkcode CallRecording.start}. */
export interface CallRecordingOptions {
  /** The file to create (its directory is created, mode 0700; the file gets mode 0600). */
  path: string;
  /**
   * Clock time of the media stream's start: sample 0 of both channels. Refined (earlier,
   * by at most {@linkcode MAX_ORIGIN_SHIFT_MS}) by the caller's frames: a frame with
   * Twilio timestamp `t` and length `d` received at clock time `r` shows the stream began
   * by `r - t - d`.
   */
  origin: number;
  clock: Clock;
  log: Logger;
  /** How long audio stays in memory before it is written, ms. Default 2000. */
  holdMs?: number;
  /** How often audio is written, ms. Default 500. */
  flushEveryMs?: number;
  /** Most agent audio held (sent, not yet written), ms; more is dropped. Default 120 000. */
  maxHeldAgentMs?: number;
}

/** A chunk of agent audio on the recording's timeline. */
interface AgentChunk {
  itemId: string;
  /** Item audio position (ms) where the chunk starts. */
  itemStartMs: number;
  /** Clock time it starts playing (by the send schedule). */
  scheduledAt: number;
  pcm: Int16Array;
  /** Samples of it the caller heard (all, unless a clear cut it). */
  keep: number;
}

/** Records one call. Create with {@linkcode CallRecording.start}; it is the call's tap. */
export class CallRecording implements CallTap {
  readonly path: string;
  readonly #o: Required<Omit<CallRecordingOptions, "path">>;
  /** Clock time of sample 0 (see {@linkcode CallRecordingOptions.origin}). */
  #origin: number;
  readonly #earliestOrigin: number;
  /** Caller samples of [#written, #written + capacity). */
  #caller: Int16Array;
  #agent: AgentChunk[] = [];
  #heldAgentSamples = 0;
  /** Samples (per channel) already handed to the writer. */
  #written = 0;
  /** When the audio sent so far finishes playing by the send schedule (clock ms). */
  #scheduleEnd = -Infinity;
  /** Agent audio sent per item, ms. */
  readonly #itemSentMs = new Map<string, number>();
  #endSample: number | undefined;
  #timer: TimerHandle | undefined;
  #io: Promise<void>;
  #file: Deno.FsFile | undefined;
  #failed: string | undefined;
  #lateCutSamples = 0;
  /** Bytes handed to the writer and not yet on disk. */
  #writing = 0;
  #droppedSamples = 0;
  /** Wall time minus clock time. */
  readonly #wallOffset: number;
  readonly finished: Promise<RecordingInfo>;
  #resolveFinished!: (info: RecordingInfo) => void;

  private constructor(options: CallRecordingOptions) {
    this.path = options.path;
    this.#o = { holdMs: 2000, flushEveryMs: 500, maxHeldAgentMs: 120_000, ...options };
    this.#origin = options.origin;
    this.#earliestOrigin = options.origin - MAX_ORIGIN_SHIFT_MS;
    // Room for the held audio, a few flush periods, and slack for late timers.
    const capacityMs = this.#o.holdMs + 4 * this.#o.flushEveryMs + 3000;
    this.#caller = new Int16Array(capacityMs * SAMPLES_PER_MS);
    const { clock } = this.#o;
    this.#wallOffset = clock.wallNow() - clock.now();
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#io = this.#open();
    this.#schedule();
  }

  /** Starts recording to `options.path` (the file is opened in the background). */
  static start(options: CallRecordingOptions): CallRecording {
    return new CallRecording(options);
  }

  /** @inheritdoc */
  callerAudio(mulaw: Uint8Array, timestampMs: number): void {
    if (this.#endSample !== undefined || this.#failed) return;
    // Twilio sends a frame once its audio was captured: the stream began no later than
    // this frame's arrival less its timestamp and length (and nothing is written yet that
    // an earlier start would move: audio is held for `holdMs`).
    const startedBy = this.#o.clock.now() - timestampMs - mulaw.length / MULAW_BYTES_PER_MS;
    if (startedBy < this.#origin && startedBy >= this.#earliestOrigin && this.#written === 0) {
      this.#origin = startedBy;
    }
    let at = Math.round(timestampMs * SAMPLES_PER_MS);
    if (at > this.#sample(this.#o.clock.now() + FUTURE_SLACK_MS)) {
      // Audio from the future is a broken timestamp: never write silence up to it.
      this.#droppedSamples += mulaw.length;
      return;
    }
    let pcm = decodeMulaw(mulaw);
    if (at < this.#written) {
      // Its time is already on disk (a frame that arrived very late): keep what still fits.
      const skip = Math.min(pcm.length, this.#written - at);
      this.#droppedSamples += skip;
      pcm = pcm.subarray(skip);
      at += skip;
    }
    if (pcm.length === 0) return;
    const overflow = at + pcm.length - (this.#written + this.#caller.length);
    if (overflow > 0) this.#flush(this.#written + overflow); // a jump ahead: write to make room
    this.#caller.set(pcm, at - this.#written);
  }

  /** @inheritdoc */
  agentAudio(mulaw: Uint8Array, itemId: string, atMs: number): void {
    if (this.#endSample !== undefined || this.#failed) return;
    const durationMs = mulaw.length / MULAW_BYTES_PER_MS;
    // The send schedule, as Playout keeps it: playback starts when sent, or after what is queued.
    const scheduledAt = Math.max(atMs, this.#scheduleEnd);
    this.#scheduleEnd = scheduledAt + durationMs;
    const itemStartMs = this.#itemSentMs.get(itemId) ?? 0;
    this.#itemSentMs.set(itemId, itemStartMs + durationMs);
    if (this.#heldAgentSamples + mulaw.length > this.#o.maxHeldAgentMs * SAMPLES_PER_MS) {
      this.#droppedSamples += mulaw.length;
      return;
    }
    const pcm = decodeMulaw(mulaw);
    this.#agent.push({ itemId, itemStartMs, scheduledAt, pcm, keep: pcm.length });
    this.#heldAgentSamples += pcm.length;
  }

  /** @inheritdoc */
  agentCleared(truncations: readonly Truncation[], _atMs: number): void {
    this.#scheduleEnd = -Infinity; // Twilio's buffer is empty: the next audio plays when sent
    for (const t of truncations) {
      for (const chunk of this.#agent) {
        if (chunk.itemId !== t.itemId) continue;
        const heardSamples = Math.round((t.audioEndMs - chunk.itemStartMs) * SAMPLES_PER_MS);
        const keep = Math.max(0, Math.min(chunk.keep, heardSamples));
        // Anything before #written is on disk already and cannot be taken back.
        const writtenOfChunk = Math.max(
          0,
          Math.min(chunk.keep, this.#written - this.#sample(chunk.scheduledAt)),
        );
        if (keep < writtenOfChunk) this.#lateCutSamples += writtenOfChunk - keep;
        chunk.keep = keep;
      }
    }
  }

  /** @inheritdoc */
  ended(atMs: number): void {
    if (this.#endSample !== undefined) return;
    this.#endSample = Math.max(this.#written, this.#sample(atMs));
    this.#o.clock.clearTimeout(this.#timer);
    this.#flush(this.#endSample);
    this.#agent = [];
    this.#io = this.#io.then(() => this.#close());
    void this.#io.then(() => this.#resolveFinished(this.info()));
  }

  /** Memory the recording holds now, bytes: audio not yet written, and writes in flight. */
  get heldBytes(): number {
    return this.#caller.byteLength + this.#heldAgentSamples * 2 + this.#writing;
  }

  /** What the record keeps, as of now. */
  info(): RecordingInfo {
    const ms = (samples: number) => Math.round(samples / SAMPLES_PER_MS);
    const done = this.#endSample !== undefined && !this.#failed;
    return {
      path: this.path,
      format: "wav/pcm16/8000/stereo",
      startedAt: new Date(this.#origin + this.#wallOffset).toISOString(),
      ...(done
        ? {
          durationMs: ms(this.#endSample!),
          bytes: HEADER_BYTES + this.#endSample! * BYTES_PER_FRAME,
        }
        : {}),
      lateCutMs: ms(this.#lateCutSamples),
      droppedMs: ms(this.#droppedSamples),
      ...(this.#failed ? { error: this.#failed } : {}),
    };
  }

  /** The timeline sample of clock time `ms`. */
  #sample(ms: number): number {
    return Math.round((ms - this.#origin) * SAMPLES_PER_MS);
  }

  #schedule(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      if (this.#endSample !== undefined) return;
      this.#flush(Math.floor(this.#sample(this.#o.clock.now() - this.#o.holdMs)));
      this.#schedule();
    }, this.#o.flushEveryMs);
  }

  /** Hands the timeline up to sample `until` (exclusive) to the writer. */
  #flush(until: number): void {
    const n = until - this.#written;
    if (n <= 0) return;
    const frames = new Int16Array(n * 2);
    const callerPart = Math.min(n, this.#caller.length);
    for (let i = 0; i < callerPart; i++) frames[2 * i] = this.#caller[i];
    if (callerPart < this.#caller.length) {
      this.#caller.copyWithin(0, callerPart);
      this.#caller.fill(0, this.#caller.length - callerPart);
    } else this.#caller.fill(0);
    const from = this.#written;
    const kept: AgentChunk[] = [];
    for (const chunk of this.#agent) {
      const at = this.#sample(chunk.scheduledAt);
      const start = Math.max(from, at);
      const end = Math.min(until, at + chunk.keep);
      for (let t = start; t < end; t++) {
        // Saturating sum: chunks do not overlap on the schedule, but never wrap if they do.
        const i = 2 * (t - from) + 1;
        frames[i] = Math.max(-32768, Math.min(32767, frames[i] + chunk.pcm[t - at]));
      }
      if (at + chunk.keep > until) kept.push(chunk);
      else this.#heldAgentSamples -= chunk.pcm.length;
    }
    this.#agent = kept;
    this.#written = until;
    this.#write(pcm16le(frames));
  }

  #write(bytes: Uint8Array): void {
    this.#writing += bytes.length;
    this.#io = this.#io.then(async () => {
      try {
        if (this.#file && !this.#failed) await writeAll(this.#file, bytes);
      } catch (error) {
        this.#fail(`writing failed: ${errorMessage(error)}`);
      } finally {
        this.#writing -= bytes.length;
      }
    });
  }

  async #open(): Promise<void> {
    try {
      await Deno.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      // createNew: never follow or overwrite an existing file; 0600: the service user only.
      this.#file = await Deno.open(this.path, { write: true, createNew: true, mode: 0o600 });
      await Deno.chmod(this.path, 0o600).catch(() => {}); // whatever the umask (not on Windows)
      await writeAll(this.#file, wavHeader(RECORDING_FORMAT, PLACEHOLDER_DATA_BYTES));
      this.#o.log.info("recording the call to {path}", { path: this.path });
    } catch (error) {
      this.#fail(`cannot create the recording: ${errorMessage(error)}`);
    }
  }

  async #close(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    this.#file = undefined;
    try {
      if (!this.#failed) {
        // The real sizes, now that the length is known.
        await file.seek(0, Deno.SeekMode.Start);
        await writeAll(file, wavHeader(RECORDING_FORMAT, this.#endSample! * BYTES_PER_FRAME));
      }
    } catch (error) {
      this.#fail(`finishing the recording failed: ${errorMessage(error)}`);
    } finally {
      file.close();
    }
  }

  #fail(message: string): void {
    if (this.#failed) return;
    this.#failed = message;
    this.#agent = [];
    this.#o.log.error("call recording {path}: {message}", { path: this.path, message });
  }
}

/** Interleaved samples as little-endian bytes. */
function pcm16le(samples: Int16Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i], true);
  return bytes;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
}

/**
 * Where a call's recording goes: `DIR/YYYY-MM-DD/CALLSID.wav` (the UTC date the call
 * started). The CallSid is checked, so it cannot reach outside the directory.
 */
export function recordingPath(dir: string, callSid: string, startedAtMs: number): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(callSid)) throw new RangeError(`bad CallSid ${callSid}`);
  const day = new Date(startedAtMs).toISOString().slice(0, 10);
  return join(dir, day, `${callSid}.wav`);
}

/**
 * Record keeping for one call: what the call saw (turn latencies, tool calls, barge-ins,
 * bookings made, notes, Twilio annotations, frame counters), turned into a
 * {@linkcode CallRecord} and saved when the call says so, one save after another.
 *
 * @module
 */
import { type Clock, isoNow } from "../clock.ts";
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import { spokenText } from "../realtime/conversation_log.ts";
import type { LogEntry } from "../realtime/conversation_log.ts";
import type { ToolOutcome } from "../agent/tools.ts";
import type { CallOutcome, CallRecord, ToolCallRecord, TranscriptEntry } from "./record.ts";

/** A tool call the model made, as the call ran it. */
export interface ToolRun {
  callId: string;
  name: string;
  /** The arguments as the model sent them (JSON text). */
  arguments: string;
}

/** Bookings this call made, cancelled or moved. */
export interface BookingCounts {
  confirmed: number;
  cancelled: number;
  rescheduled: number;
}

/** Where the call record is saved. */
export interface CallRecordSink {
  saveCall(record: CallRecord): Promise<void>;
}

/** What the record needs from the rest of the call when it is saved. */
export interface RecordContext {
  endReason: string | undefined;
  /** The conversation so far (the model session's record). */
  conversation: readonly LogEntry[];
  modelStats: unknown;
  streamCounters: unknown;
}

/** Collects one call's record. */
export class CallRecorder {
  readonly #clock: Clock;
  readonly #callSid: string;
  readonly #from: string;
  readonly #to: string;
  readonly #startedAt: string;
  readonly #sink: CallRecordSink;
  readonly #log: Logger;
  #saves: Promise<unknown> = Promise.resolve();
  #speechStoppedAt: number | undefined;
  /** When the call ended (set once); later saves keep it. */
  #endedAt: string | undefined;
  readonly #turnMs: number[] = [];
  readonly #bargeIns: { at: string; heardMs?: number; reactionMs: number }[] = [];
  readonly #toolCalls: ToolCallRecord[] = [];
  readonly #itemTimes = new Map<string, string>();
  readonly #notes: TranscriptEntry[] = [];
  readonly #annotations: Record<string, unknown> = {};
  readonly #sms: Record<string, string | undefined>[] = [];
  /** Bookings made, cancelled and moved in this call. */
  readonly bookings: BookingCounts = { confirmed: 0, cancelled: 0, rescheduled: 0 };
  /** Caller frames sent to the model. */
  framesToModel = 0;
  /** Agent frames sent to the caller. */
  framesToCaller = 0;
  /** Model audio dropped because its response was interrupted or over. */
  droppedLateDeltas = 0;

  /** Starts the record now (by `clock`). */
  constructor(call: {
    callSid: string;
    from: string;
    to: string;
    clock: Clock;
    sink: CallRecordSink;
    log: Logger;
  }) {
    this.#clock = call.clock;
    this.#sink = call.sink;
    this.#log = call.log;
    this.#callSid = call.callSid;
    this.#from = call.from;
    this.#to = call.to;
    this.#startedAt = isoNow(call.clock);
  }

  /**
   * The call is over: its end time is now, whatever runs before the final save (the
   * after-call summary must not lengthen the call).
   */
  ended(): void {
    this.#endedAt ??= isoNow(this.#clock);
  }

  /** When the call started (UTC ISO). */
  get startedAt(): string {
    return this.#startedAt;
  }

  /** Turns measured so far (caller's end of speech -> first agent audio), ms. */
  get turnMs(): readonly number[] {
    return this.#turnMs;
  }

  /** A conversation item appeared (its time orders the transcript). */
  itemAdded(itemId: string | undefined): void {
    if (itemId !== undefined && !this.#itemTimes.has(itemId)) {
      this.#itemTimes.set(itemId, isoNow(this.#clock));
    }
  }

  /** The caller stopped speaking: a turn's latency starts counting. */
  callerStoppedSpeaking(): void {
    this.#speechStoppedAt = this.#clock.now();
  }

  /**
   * Agent audio went out. Returns the turn's latency (ms) when this is the first audio
   * after the caller stopped speaking, else undefined.
   */
  agentAudioSent(): number | undefined {
    if (this.#speechStoppedAt === undefined) return undefined;
    const ms = this.#clock.now() - this.#speechStoppedAt;
    this.#speechStoppedAt = undefined;
    this.#turnMs.push(Math.round(ms));
    return ms;
  }

  /** The caller talked over the agent. */
  bargeIn(heardMs: number | undefined, reactionMs: number): void {
    this.#bargeIns.push({ at: isoNow(this.#clock), heardMs, reactionMs });
  }

  /** A tool ran (or was refused); `startedAt` is the clock's ISO time it started. */
  tool(call: ToolRun, outcome: ToolOutcome, startedAt: string): void {
    let args: unknown = call.arguments;
    try {
      args = JSON.parse(call.arguments);
    } catch { /* recorded as the raw string */ }
    this.#toolCalls.push({
      name: call.name,
      callId: call.callId,
      arguments: args,
      result: outcome.ok ? outcome.output : undefined,
      error: outcome.ok ? undefined : `${outcome.error.code}: ${outcome.error.message}`,
      startedAt,
      durationMs: outcome.durationMs,
    });
    if (!outcome.ok) return;
    const status = (outcome.output as { status?: string } | null)?.status;
    if (call.name === "book_slot" && status === "confirmed") this.bookings.confirmed++;
    else if (call.name === "cancel_booking" && status === "cancelled") this.bookings.cancelled++;
    else if (call.name === "reschedule_booking" && status === "rescheduled") {
      this.bookings.rescheduled++;
    }
  }

  /** A line for the transcript from the service itself (check-in, wrap-up, key presses). */
  note(text: string): void {
    this.#notes.push({ role: "system", text, at: isoNow(this.#clock) });
  }

  /** An SMS sent (or tried) for this call. */
  sms(sms: { to: string; bookingId?: string; sid?: string; error?: string }): void {
    this.#sms.push({ ...sms, at: isoNow(this.#clock) });
  }

  /** Keeps what Twilio reported about the call (status callbacks). */
  annotate(key: string, value: unknown): void {
    this.#annotations[key] = value;
  }

  /**
   * Saves the record as it is when this save's turn comes (after every earlier save, so
   * the final one lands last). Never rejects: a failed save is logged.
   */
  save(outcome: CallOutcome, context: () => RecordContext): Promise<CallRecord> {
    const saved = this.#saves.then(async () => {
      const record = this.build(outcome, context());
      try {
        await this.#sink.saveCall(record);
      } catch (error) {
        this.#log.error("saving the call record failed: {error}", { error: errorMessage(error) });
      }
      return record;
    });
    this.#saves = saved;
    return saved;
  }

  /** The record as of now (`in_progress` until the call is over). */
  build(outcome: CallOutcome, ctx: RecordContext): CallRecord {
    const turnMs = [...this.#turnMs];
    const sorted = [...turnMs].sort((a, b) => a - b);
    const pct = (p: number) =>
      sorted.length
        ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
        : undefined;
    return {
      callSid: this.#callSid,
      from: this.#from,
      to: this.#to,
      startedAt: this.#startedAt,
      endedAt: outcome !== "in_progress" ? this.#endedAt ?? isoNow(this.#clock) : undefined,
      outcome,
      transcript: this.transcript(ctx.conversation),
      toolCalls: [...this.#toolCalls],
      latency: {
        turnMs,
        p50Ms: pct(0.5),
        p95Ms: pct(0.95),
        bargeInReactionMs: this.#bargeIns.map((b) => b.reactionMs),
      },
      bargeIns: this.#bargeIns.map(({ at, heardMs }) => ({ at, heardMs })),
      extra: {
        ...this.#annotations,
        ...(this.#sms.length ? { sms: [...this.#sms] } : {}),
        endReason: ctx.endReason,
        framesToModel: this.framesToModel,
        framesToCaller: this.framesToCaller,
        droppedLateDeltas: this.droppedLateDeltas,
        modelStats: ctx.modelStats,
        streamCounters: ctx.streamCounters,
      },
    };
  }

  /**
   * Caller speech (transcribed audio items) and agent speech (cut to what was heard), with
   * the service's own notes, in time order. Text the service sent the model (key presses,
   * instructions) is not caller speech: it appears once, as its note.
   */
  transcript(conversation: readonly LogEntry[]): TranscriptEntry[] {
    const out: TranscriptEntry[] = [];
    const fallbackAt = isoNow(this.#clock);
    for (const e of conversation) {
      if (e.kind === "user" && e.itemId !== undefined && e.text) {
        out.push({ role: "caller", text: e.text, at: this.#itemTimes.get(e.itemId) ?? fallbackAt });
      } else if (e.kind === "assistant" && e.text) {
        const interrupted = e.heardMs !== undefined && e.heardMs < e.audioMs;
        out.push({
          role: "agent",
          text: spokenText(e),
          at: this.#itemTimes.get(e.itemId) ?? fallbackAt,
          ...(interrupted ? { interrupted: true } : {}),
        });
      }
    }
    return [...out, ...this.#notes].sort((a, b) => a.at.localeCompare(b.at));
  }
}

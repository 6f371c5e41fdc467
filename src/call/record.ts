/**
 * The call record: what one call said, did and how it ended, saved as the call goes and
 * when it ends. Owned by the call layer; the booking store persists it.
 *
 * @module
 */

/** One utterance in a call transcript. */
export interface TranscriptEntry {
  /** Who spoke. */
  role: "caller" | "agent" | "system";
  /** What was said (for the agent: what the caller actually heard, if truncated). */
  text: string;
  /** When (UTC ISO). */
  at: string;
  /** The agent was interrupted while saying this. */
  interrupted?: boolean;
}

/** One tool call the model made during a call. */
export interface ToolCallRecord {
  /** Tool name. */
  name: string;
  /** Model-provided call id. */
  callId?: string;
  /** Arguments as parsed. */
  arguments: unknown;
  /** Result returned to the model. */
  result?: unknown;
  /** Error message when the tool failed or timed out. */
  error?: string;
  /** When it started (UTC ISO). */
  startedAt: string;
  /** How long it took. */
  durationMs: number;
}

/** Latency figures of a call, in milliseconds; free-form beyond the named fields. */
export interface LatencyFigures {
  /** From the caller's end of speech to the first agent audio, per turn. */
  turnMs?: number[];
  /** Median of `turnMs`. */
  p50Ms?: number;
  /** 95th percentile of `turnMs`. */
  p95Ms?: number;
  /** Any other figure. */
  [name: string]: number | number[] | undefined;
}

/** A barge-in: the caller spoke over the agent. */
export interface BargeInRecord {
  /** When (UTC ISO). */
  at: string;
  /** How much of the agent's current reply the caller had heard. */
  heardMs?: number;
}

/** How a call ended; free text is allowed for outcomes not listed. */
export type CallOutcome =
  | "in_progress"
  | "booked"
  | "rescheduled"
  | "cancelled"
  | "information"
  | "transferred"
  | "caller_hung_up"
  | "agent_hung_up"
  | "error"
  | (string & Record<never, never>);

/** A call record, saved (upserted by `callSid`) as the call goes and when it ends. */
export interface CallRecord {
  /** Twilio call SID. */
  callSid: string;
  /** Caller's number. */
  from: string;
  /** Number called. */
  to: string;
  /** Start (UTC ISO). */
  startedAt: string;
  /** End (UTC ISO), absent while in progress. */
  endedAt?: string;
  /** Outcome. */
  outcome: CallOutcome;
  /** What was said. */
  transcript: TranscriptEntry[];
  /** Tools the model called. */
  toolCalls: ToolCallRecord[];
  /** Latency figures. */
  latency: LatencyFigures;
  /** Barge-ins. */
  bargeIns: BargeInRecord[];
  /** Anything else worth keeping (JSON). */
  extra?: Record<string, unknown>;
}

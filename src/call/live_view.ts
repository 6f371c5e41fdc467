/**
 * A call in progress as the operator console's live page shows it: who, since when, what
 * it is doing now and what has been said so far.
 *
 * @module
 */

/** What a live call is doing right now. */
export type LiveCallState = "agent_speaking" | "caller_speaking" | "running_tool" | "listening";

/** One line of a live transcript. */
export interface LiveTranscriptLine {
  /** Who spoke (`system`: a note of the service, e.g. a key press). */
  role: "caller" | "agent" | "system";
  /** What was said so far (the agent's line grows while it speaks). */
  text: string;
  /** When (UTC ISO). */
  at: string;
  /** The caller talked over this line. */
  interrupted?: boolean;
}

/** A call in progress, as the live page shows it. */
export interface LiveCallView {
  callSid: string;
  /** Caller's number. */
  from: string;
  /** Number called. */
  to: string;
  /** Start (UTC ISO); the page counts the duration from it. */
  startedAt: string;
  state: LiveCallState;
  /** Everything said so far, oldest first. */
  transcript: LiveTranscriptLine[];
}

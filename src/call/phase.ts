/**
 * A call's lifecycle as data, and the rules that decide how it ends: which reason an
 * ending carries, which one applies when the caller leaves first, and the outcome the
 * record and the metrics both report.
 *
 * @module
 */
import type { BookingCounts } from "./recorder.ts";
import type { CallOutcome } from "./record.ts";

/** How a call ended, in the record and in metrics. */
export type EndReason =
  | "caller_hung_up"
  | "agent_hung_up"
  | "transferred"
  | "model_unavailable"
  | "shutdown"
  | "error";

/** What the ending carries out once the last words have played. */
export interface EndRequest {
  kind: "hangup" | "transfer";
  /** Why, in a few words (logged, noted). */
  why: string;
  /** The prepared apology is playing (the model is gone). */
  apology: boolean;
}

/** Where an ending stands. */
export type EndingStage = "goodbye" | "draining" | "executing" | "awaiting_stop";

/** The call's lifecycle. */
export type CallPhase =
  | { name: "starting" }
  | { name: "live" }
  | {
    name: "ending";
    request: EndRequest;
    /** The reason once the request is carried out (or the caller leaves after that). */
    reason: EndReason;
    /** The reason if the caller leaves before the request is carried out. */
    ifCallerLeaves: EndReason;
    stage: EndingStage;
  }
  | { name: "finished"; reason: EndReason; outcome: CallOutcome };

/** The ending phase. */
export type Ending = Extract<CallPhase, { name: "ending" }>;

/**
 * The phase a call enters when it starts ending. The reason is decided here, once; so is
 * the one that applies if the caller leaves before the request is carried out: a transfer
 * not yet made is no transfer (the caller hung up, or, during the apology, the model was
 * unavailable), while a hang-up the agent asked for stays the agent's.
 */
export function endingPhase(request: EndRequest, reason: EndReason): Ending {
  const ifCallerLeaves: EndReason = request.kind === "hangup"
    ? reason
    : request.apology
    ? "model_unavailable"
    : "caller_hung_up";
  return { name: "ending", request, reason, ifCallerLeaves, stage: "goodbye" };
}

/** The reason a call ends with when its stream ends during `ending`. */
export function reasonWhenStreamEnds(ending: Ending): EndReason {
  const carriedOut = ending.stage === "executing" || ending.stage === "awaiting_stop";
  return carriedOut ? ending.reason : ending.ifCallerLeaves;
}

/**
 * The outcome of a call that ended for `reason`: what went wrong if something did,
 * otherwise what the caller got done (booked, rescheduled, cancelled), otherwise who hung up.
 */
export function outcomeFor(reason: EndReason, bookings: BookingCounts): CallOutcome {
  if (reason === "transferred" || reason === "model_unavailable" || reason === "error") {
    return reason;
  }
  if (bookings.confirmed > 0) return "booked";
  if (bookings.rescheduled > 0) return "rescheduled";
  if (bookings.cancelled > 0) return "cancelled";
  return reason;
}

/**
 * Observers of a call that change nothing in it: the call's audio as it crosses the bridge
 * (for the recording), and an optional step that runs once the call is over, while the
 * model session is still open (for the summary).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { type Clock, timeoutSignal } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { Truncation } from "./playout.ts";
import type { CallOutcome } from "./record.ts";
import type { EndReason } from "./phase.ts";

/** What {@linkcode AgentAudio} reports about the audio it sends the caller. */
export interface AgentAudioTap {
  /**
   * Whole frames of agent audio (mu-law) handed to Twilio at clock time `atMs`, belonging
   * to `itemId` (the model's item, or the name of a prepared prompt). The bytes are not
   * reused by the sender: the tap may keep them.
   */
  agentAudio(mulaw: Uint8Array, itemId: string, atMs: number): void;
  /**
   * Twilio's buffer was cleared at clock time `atMs`; `truncations` say how much of each
   * item with unplayed audio the caller heard (the same estimate the model is told).
   */
  agentCleared(truncations: readonly Truncation[], atMs: number): void;
}

/** Everything a call's audio observer sees. */
export interface CallTap extends AgentAudioTap {
  /** A caller frame as Twilio sent it; `timestampMs` counts from the stream's start. */
  callerAudio(mulaw: Uint8Array, timestampMs: number): void;
  /** The call is over (clock time `atMs`): nothing more will be heard either way. */
  ended(atMs: number): void;
}

/** What the after-call step gets. */
export interface AfterEndContext {
  reason: EndReason;
  outcome: CallOutcome;
  /** Aborted at the step's deadline; the call does not wait for it any longer. */
  signal: AbortSignal;
  /** Adds a field to the call record's `extra` (saved with the final record). */
  annotate(key: string, value: unknown): void;
}

/**
 * Runs once the call is over, before the model session is closed and the final record
 * saved. Bounded by the call's `afterEndMs` limit; a rejection is logged, never fatal.
 */
export type AfterEndStep = (context: AfterEndContext) => Promise<void>;

/**
 * Runs `step` until it is done or `limitMs` pass on `clock` (its signal then aborts and
 * the call stops waiting); a failure or the deadline is logged. Never rejects.
 */
export async function runAfterEndStep(
  step: AfterEndStep,
  context: Omit<AfterEndContext, "signal">,
  options: { clock: Clock; limitMs: number; log: Logger },
): Promise<void> {
  const { clock, limitMs, log } = options;
  const { signal, cancel } = timeoutSignal(clock, limitMs, "after-call step timed out");
  const deadline = new Promise<void>((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
  try {
    await Promise.race([step({ ...context, signal }), deadline]);
    if (signal.aborted) {
      log.warn("after-call step stopped at its deadline ({limitMs} ms)", { limitMs });
    }
  } catch (error) {
    log.error("after-call step failed: {error}", { error: errorMessage(error) });
  } finally {
    cancel();
  }
}

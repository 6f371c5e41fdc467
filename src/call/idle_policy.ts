/**
 * The caller has gone quiet: after `checkInMs` of silence the agent asks whether they are
 * still there; after `hangUpMs` in all it says goodbye. Caller activity starts over from
 * "no check-in yet"; the agent's own audio only postpones the current stage (so its
 * check-in does not reset the road to the hang-up). While the call is busy (someone
 * speaking, a response or playback in progress) the policy waits and looks again.
 *
 * @module
 */
import type { Clock, TimerGroup, TimerHandle } from "../clock.ts";

/** Settings and callbacks of an {@linkcode IdlePolicy}. */
export interface IdlePolicyOptions {
  clock: Clock;
  timers: TimerGroup;
  /** Silence before the check-in, ms. */
  checkInMs: number;
  /** Silence before giving up, ms (counted from the last caller activity). */
  hangUpMs: number;
  /** True while something is going on that is not silence. */
  isBusy(): boolean;
  /** Ask the caller whether they are still there. */
  onCheckIn(): void;
  /** The caller stayed silent after the check-in: wrap the call up. */
  onGiveUp(): void;
}

/** How long a busy call is given before the policy looks again, ms. */
const BUSY_RECHECK_MS = 1000;

/** One call's silence clock. */
export class IdlePolicy {
  readonly #o: IdlePolicyOptions;
  #stage: "waiting" | "checked_in" | "stopped" = "waiting";
  /** When the current stage runs out (clock ms). */
  #deadline = 0;
  #timer: TimerHandle | undefined;
  /** When the armed timer fires (clock ms). */
  #timerAt = 0;

  /** Creates the policy; nothing runs until the first {@linkcode touch}. */
  constructor(options: IdlePolicyOptions) {
    this.#o = options;
  }

  /** Where the policy stands. */
  get stage(): "waiting" | "checked_in" | "stopped" {
    return this.#stage;
  }

  /** Restarts the silence clock: by the caller (from the start) or by the agent (this stage). */
  touch(byCaller: boolean): void {
    if (this.#stage === "stopped") return;
    if (byCaller) this.#stage = "waiting";
    const { checkInMs, hangUpMs } = this.#o;
    const now = this.#o.clock.now();
    this.#deadline = now + (this.#stage === "waiting" ? checkInMs : hangUpMs - checkInMs);
    // Agent audio touches this every 20 ms: keep an armed timer that fires no later than
    // the new deadline (it re-arms itself for the rest) instead of replacing one per frame.
    if (this.#timer !== undefined && this.#timerAt <= this.#deadline) return;
    this.#o.timers.clear(this.#timer);
    this.#arm(now);
  }

  /** Stops for good (the call is ending). */
  stop(): void {
    this.#stage = "stopped";
    this.#o.timers.clear(this.#timer);
    this.#timer = undefined;
  }

  #arm(now: number): void {
    this.#timerAt = this.#deadline;
    this.#timer = this.#o.timers.after(this.#deadline - now, () => {
      this.#timer = undefined;
      const at = this.#o.clock.now();
      if (at < this.#deadline) this.#arm(at);
      else this.#expired(at);
    });
  }

  #expired(now: number): void {
    if (this.#stage === "stopped") return;
    if (this.#o.isBusy()) {
      this.#deadline = now + BUSY_RECHECK_MS;
      this.#arm(now);
      return;
    }
    if (this.#stage === "checked_in") {
      this.stop();
      this.#o.onGiveUp();
      return;
    }
    this.#stage = "checked_in";
    this.#o.onCheckIn();
    this.touch(false);
  }
}

/**
 * Key presses, batched: a quick sequence ("1 2 3 #") becomes one note and one message to
 * the model instead of one per key, so the model answers the whole entry once.
 *
 * @example
 * ```ts
 * import { systemClock, TimerGroup } from "../clock.ts";
 * const keys = new DtmfBatcher(new TimerGroup(systemClock), (digits) => console.log(digits));
 * keys.press("1");
 * keys.press("2"); // 700 ms later: "1 2"
 * ```
 *
 * @module
 */
import type { TimerGroup, TimerHandle } from "../clock.ts";

/** Quiet time after the last key that ends a batch, ms. */
export const DTMF_BATCH_MS = 700;

/** Collects key presses until {@linkcode DTMF_BATCH_MS} pass without one. */
export class DtmfBatcher {
  readonly #timers: TimerGroup;
  readonly #onBatch: (digits: string) => void;
  #digits: string[] = [];
  #timer: TimerHandle | undefined;

  /** @param onBatch gets the digits of one batch, space-separated ("1 2 #") */
  constructor(timers: TimerGroup, onBatch: (digits: string) => void) {
    this.#timers = timers;
    this.#onBatch = onBatch;
  }

  /** One key; the batch ends {@linkcode DTMF_BATCH_MS} after the last one. */
  press(digit: string): void {
    this.#digits.push(digit);
    this.#timers.clear(this.#timer);
    this.#timer = this.#timers.after(DTMF_BATCH_MS, () => {
      const digits = this.#digits.join(" ");
      this.#digits = [];
      this.#timer = undefined;
      this.#onBatch(digits);
    });
  }
}

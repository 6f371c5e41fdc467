/**
 * Time, injected. Every long-lived object that measures or waits (the call, the model
 * connection, the pre-warm pool, the tool registry, the call manager) takes one
 * {@linkcode Clock} instead of reaching for `performance.now()`, `Date.now()` or
 * `setTimeout`, so tests can run a whole call in virtual time.
 *
 * @example
 * ```ts
 * import { systemClock, TimerGroup } from "./clock.ts";
 * const timers = new TimerGroup(systemClock);
 * timers.after(1000, () => console.log("a second later"));
 * timers.clearAll(); // nothing fires
 * ```
 *
 * @module
 */

/** An opaque timer handle from {@linkcode Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Monotonic time, wall time and timers. */
export interface Clock {
  /** Monotonic milliseconds (only differences mean anything). */
  now(): number;
  /** Milliseconds since the Unix epoch (for timestamps people read). */
  wallNow(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer (unknown or fired handles are ignored). */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now`, `Date.now` and the host's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The clock's wall time as an ISO-8601 UTC string. */
export function isoNow(clock: Clock): string {
  return new Date(clock.wallNow()).toISOString();
}

/**
 * An `AbortSignal` aborted after `ms` on `clock` (like `AbortSignal.timeout`, but on an
 * injectable clock). Call the returned `cancel` when the work finished first.
 */
export function timeoutSignal(
  clock: Clock,
  ms: number,
  reason = "timed out",
): { signal: AbortSignal; cancel(): void } {
  const controller = new AbortController();
  const handle = clock.setTimeout(() => controller.abort(new Error(reason)), ms);
  return { signal: controller.signal, cancel: () => clock.clearTimeout(handle) };
}

/**
 * `work`'s outcome, or `onTimeout()`'s once `ms` pass on `clock` first (`onTimeout` may
 * throw to reject). The one promise-against-a-timer race of the code base: the timer is
 * always cleared, and an injectable clock lets tests run it in virtual time (where
 * `AbortSignal.timeout` would wait in real time).
 *
 * @example
 * ```ts
 * const answer = await raceTimer(systemClock, fetch("http://127.0.0.1:8080/"), 1000, () => {
 *   throw new Error("no answer within 1000 ms");
 * });
 * ```
 */
export async function raceTimer<T, U>(
  clock: Clock,
  work: Promise<T>,
  ms: number,
  onTimeout: () => U,
): Promise<T | U> {
  let handle: TimerHandle | undefined;
  const timer = new Promise<U>((resolve, reject) => {
    handle = clock.setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, Math.max(0, ms));
  });
  try {
    return await Promise.race([work, timer]);
  } finally {
    clock.clearTimeout(handle);
  }
}

/** Resolves after `ms` on `clock`, or rejects with the signal's reason once it aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal!.reason);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The timers of one owner (a call, a connection): each runs at most once, a throwing
 * callback is reported instead of escaping, and {@linkcode clearAll} cancels whatever is
 * left when the owner is done.
 */
export class TimerGroup {
  readonly #clock: Clock;
  readonly #onError: (error: unknown) => void;
  readonly #live = new Set<TimerHandle>();

  /**
   * @param clock where time comes from
   * @param onError called with what a callback threw (default: rethrown asynchronously)
   */
  constructor(clock: Clock, onError: (error: unknown) => void = (e) =>
    queueMicrotask(() => {
      throw e;
    })) {
    this.#clock = clock;
    this.#onError = onError;
  }

  /** Timers scheduled and not yet fired or cleared. */
  get size(): number {
    return this.#live.size;
  }

  /** Runs `fn` after `ms` (negative counts as 0); returns a handle for {@linkcode clear}. */
  after(ms: number, fn: () => void): TimerHandle {
    const handle = this.#clock.setTimeout(() => {
      if (!this.#live.delete(handle)) return;
      try {
        fn();
      } catch (error) {
        this.#onError(error);
      }
    }, Math.max(0, ms));
    this.#live.add(handle);
    return handle;
  }

  /** Cancels one timer (undefined and unknown handles are ignored). */
  clear(handle: TimerHandle | undefined): void {
    if (handle === undefined || !this.#live.delete(handle)) return;
    this.#clock.clearTimeout(handle);
  }

  /** Cancels every timer of the group. */
  clearAll(): void {
    for (const handle of this.#live) this.#clock.clearTimeout(handle);
    this.#live.clear();
  }
}

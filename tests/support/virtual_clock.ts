/**
 * A {@linkcode Clock} for tests: time stands still until the test advances it, and timers
 * fire in order of their due time (then of scheduling). Between timers every pending
 * promise job runs, so async code driven by timers behaves as it would in real time,
 * only in milliseconds of wall time.
 *
 * @module
 */
import type { Clock, TimerHandle } from "../../src/clock.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Lets every queued promise job (and the jobs they queue) run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Virtual monotonic and wall time with timers. */
export class VirtualClock implements Clock {
  #now = 0;
  readonly #wallAtZero: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  /** @param wallAtZero the wall time (Unix ms) at virtual time 0 */
  constructor(wallAtZero = Date.UTC(2026, 10, 27, 15, 0, 0)) {
    this.#wallAtZero = wallAtZero;
  }

  /** @inheritdoc */
  now(): number {
    return this.#now;
  }

  /** @inheritdoc */
  wallNow(): number {
    return this.#wallAtZero + this.#now;
  }

  /** @inheritdoc */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** @inheritdoc */
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Timers scheduled and not yet fired. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (!next || next.at > target) break;
      this.#timers.delete(next.id);
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Advances in `stepMs` steps until `predicate` holds; throws after `maxMs` of virtual time. */
  async until(predicate: () => boolean, maxMs = 60_000, stepMs = 20, what = "condition") {
    const deadline = this.#now + maxMs;
    while (!predicate()) {
      if (this.#now >= deadline) throw new Error(`virtual time: no ${what} within ${maxMs} ms`);
      await this.advance(stepMs);
    }
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers.values()) {
      if (!best || t.at < best.at || (t.at === best.at && t.id < best.id)) best = t;
    }
    return best;
  }
}

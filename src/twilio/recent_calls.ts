/**
 * CallSids this instance has answered with a media stream, remembered for a while: a
 * call token is good for one stream only (a second `start` for the CallSid is a replay),
 * and a voice webhook for a CallSid that already streamed is a replay too (Twilio sends
 * one per call; a signature has no timestamp, so a captured webhook verifies forever).
 * Bounded in time and count, so remembering costs at most `maxEntries` short strings.
 *
 * @example
 * ```ts
 * const streamed = new RecentCallSids({ ttlMs: 3_600_000 });
 * declare const callSid: string;
 * declare function refuse(): void;
 * if (streamed.has(callSid)) refuse();
 * streamed.add(callSid);
 * ```
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";

/** Options of {@linkcode RecentCallSids}. */
export interface RecentCallSidsOptions {
  /** How long a CallSid is remembered, ms. */
  ttlMs: number;
  /** Most CallSids remembered; the oldest are forgotten first. Default 100 000. */
  maxEntries?: number;
  clock?: Clock;
}

/** A bounded, expiring set of CallSids. */
export class RecentCallSids {
  /** CallSid -> when it is forgotten; insertion order is expiry order. */
  readonly #until = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #clock: Clock;

  /** Creates an empty set. */
  constructor(options: RecentCallSidsOptions) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.maxEntries ?? 100_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** CallSids remembered now. */
  get size(): number {
    this.#expire();
    return this.#until.size;
  }

  /** Whether `callSid` was added within the last `ttlMs`. */
  has(callSid: string): boolean {
    this.#expire();
    return this.#until.has(callSid);
  }

  /** Remembers `callSid` for `ttlMs` from now. */
  add(callSid: string): void {
    this.#expire();
    this.#until.delete(callSid);
    this.#until.set(callSid, this.#clock.now() + this.#ttlMs);
    if (this.#until.size > this.#max) this.#until.delete(this.#until.keys().next().value!);
  }

  #expire(): void {
    const now = this.#clock.now();
    for (const [callSid, until] of this.#until) {
      if (until > now) break;
      this.#until.delete(callSid);
    }
  }
}

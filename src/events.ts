/**
 * A small typed event emitter, shared by the model connection and the Twilio stream:
 * listeners subscribe by event name and get an unsubscribe function back; a listener that
 * throws is reported and never stops the others or the emitter's owner.
 *
 * @example
 * ```ts
 * import { Emitter } from "./events.ts";
 * const e = new Emitter<{ state: [string]; tick: [] }>();
 * const off = e.on("state", (s) => console.log(s));
 * e.emit("state", "open");
 * off();
 * ```
 *
 * @module
 */

/** Event name -> argument list. */
// deno-lint-ignore no-explicit-any
export type EventMap = Record<string, any[]>;

// deno-lint-ignore no-explicit-any
type Listener = (...args: any[]) => void;

/** Typed listeners per event name. */
export class Emitter<M extends EventMap> {
  // Listeners are stored untyped; on() and emit() keep each name's argument types.
  readonly #listeners = new Map<keyof M, Set<Listener>>();
  readonly #onError: (name: keyof M, error: unknown) => void;

  /** @param onError called when a listener throws (default: ignored after `console.error`) */
  constructor(onError?: (name: keyof M, error: unknown) => void) {
    this.#onError = onError ??
      ((name, error) => console.error(`listener of ${String(name)}`, error));
  }

  /** Subscribes to `name`; returns the unsubscribe function. */
  on<K extends keyof M>(name: K, fn: (...args: M[K]) => void): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, set = new Set());
    set.add(fn as Listener);
    return () => void set.delete(fn as Listener);
  }

  /** Whether anyone listens to `name`. */
  has(name: keyof M): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0;
  }

  /** Calls every listener of `name` in subscription order. */
  emit<K extends keyof M>(name: K, ...args: M[K]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const fn of set) {
      try {
        fn(...args);
      } catch (error) {
        this.#onError(name, error);
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}

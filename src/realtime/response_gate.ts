/**
 * One model response at a time. The Realtime server refuses a `response.create` while a
 * response is active (`conversation_already_has_active_response`), so the connection asks
 * this gate first: a request made while one is in progress is deferred (the latest wins)
 * and sent once that one is done.
 *
 * States: `idle` → `requested` (our create is on its way) → `active` (`response.created`)
 * → `idle` (`response.done`). A response the server starts by itself (server VAD) goes
 * straight from `idle` to `active`.
 *
 * @example
 * ```ts
 * import { ResponseGate } from "./response_gate.ts";
 * const gate = new ResponseGate();
 * gate.request({}); // "send": send response.create now
 * gate.request({ instructions: "x" }); // "deferred"
 * gate.created();
 * gate.done(); // { instructions: "x" }: send it now (the gate is `requested` again)
 * ```
 *
 * @module
 */
import type { ResponseCreateOptions } from "./protocol.ts";

/** Where the gate stands. */
export type ResponseGateState = "idle" | "requested" | "active";

/** Tracks the one active response and the request waiting behind it. */
export class ResponseGate {
  #state: ResponseGateState = "idle";
  /** A deferred request (its options, possibly undefined), or null for none. */
  #deferred: ResponseCreateOptions | undefined | null = null;

  /** The current state. */
  get state(): ResponseGateState {
    return this.#state;
  }

  /** True unless `idle`: a response is active or one of ours is on its way. */
  get busy(): boolean {
    return this.#state !== "idle";
  }

  /** Whether a request is waiting for the current response to end. */
  get hasDeferred(): boolean {
    return this.#deferred !== null;
  }

  /**
   * Asks for a response. `"send"`: send `response.create` now (the gate is `requested`);
   * `"deferred"`: it will be handed back by {@linkcode done} (a later request replaces it).
   */
  request(options?: ResponseCreateOptions): "send" | "deferred" {
    if (this.#state === "idle") {
      this.#state = "requested";
      return "send";
    }
    this.#deferred = options;
    return "deferred";
  }

  /** `response.created` arrived (ours, or one the server started itself). */
  created(): void {
    this.#state = "active";
  }

  /**
   * `response.done` arrived. Returns the deferred request to send now (the gate is then
   * `requested` again), or null when there is none (the gate is `idle`).
   */
  done(): { options: ResponseCreateOptions | undefined } | null {
    const deferred = this.#deferred;
    this.#deferred = null;
    if (deferred === null) {
      this.#state = "idle";
      return null;
    }
    this.#state = "requested";
    return { options: deferred };
  }

  /** Forgets everything (a new session starts with no response). */
  reset(): void {
    this.#state = "idle";
    this.#deferred = null;
  }
}

/**
 * One model response at a time, reconciled with what the server really did.
 *
 * The Realtime server refuses a `response.create` while a response is active
 * (`conversation_already_has_active_response`), and with server VAD it starts responses by
 * itself, so our request and its own can race. Each of our requests carries a client
 * `event_id` and the same id in `response.metadata`; the server echoes the first in the
 * `error` that refuses it and the second in the `response.created` that answers it. So
 * the gate always knows whether a request was answered, refused, or is still out:
 *
 * - a request made while a response is active waits (`defer`: the latest one waits,
 *   sent after `response.done`) or is dropped (`drop`: a check-in or filler is pointless
 *   while the model is talking anyway);
 * - refused because the server's own response got there first: waits or is dropped the
 *   same way;
 * - refused by a transient server error (`server_error`): asked again once, under a fresh
 *   event id, unless a newer request waits (that one answers everything said so far);
 * - refused for any other reason, or unanswered by its deadline: forgotten, so the call is
 *   never left believing it is busy.
 *
 * States: `idle` → `requested` (ours is out) → `active` (`response.created`) → `idle`
 * (`response.done`). A response the server starts itself goes `idle` → `active`.
 *
 * @example
 * ```ts
 * import { ResponseGate } from "./response_gate.ts";
 * const gate = new ResponseGate();
 * const first = gate.request({}, "defer", "e1"); // { kind: "send", ... }: send it
 * gate.request({ instructions: "x" }, "defer", "e2"); // { kind: "deferred" }
 * gate.created("resp_1", "e1");
 * gate.done("resp_1"); // the deferred request: send it now
 * ```
 *
 * @module
 */
import type { ResponseCreateOptions } from "./protocol.ts";

/** Where the gate stands. */
export type ResponseGateState = "idle" | "requested" | "active";

/** What to do with a request that meets a response in progress. */
export type BusyPolicy = "defer" | "drop";

/** One request for a response. */
export interface ResponseRequest {
  /** The client `event_id` of its `response.create` (also sent as metadata). */
  eventId: string;
  options: ResponseCreateOptions | undefined;
  policy: BusyPolicy;
  /** 1 for a first request, 2 when asked again after a transient refusal. */
  attempt: number;
}

/** The gate's answer to a new request. */
export type GateDecision =
  | { kind: "send"; request: ResponseRequest }
  | { kind: "deferred" }
  | { kind: "dropped" };

/** What became of a refused request. */
export type RejectionOutcome =
  | { kind: "waiting" } // deferred behind the server's own response
  | { kind: "dropped" } // obsolete: the model is responding anyway
  /**
   * Refused; `next` (a waiting request) may be sent now, or `retry`, the refused request,
   * asked again (a transient refusal, first attempt).
   */
  | { kind: "failed"; next: ResponseRequest | undefined; retry?: ResponseRequest }
  | { kind: "unknown" }; // not one of ours that is out

/** Tracks the one active response, our request that is out, and one waiting behind. */
export class ResponseGate {
  #state: ResponseGateState = "idle";
  /** Our request that was sent and is neither answered nor refused yet. */
  #out: ResponseRequest | undefined;
  #deferred: ResponseRequest | undefined;

  /** The current state. */
  get state(): ResponseGateState {
    return this.#state;
  }

  /** True unless `idle`: a response is active or one of ours is out. */
  get busy(): boolean {
    return this.#state !== "idle";
  }

  /** Whether a request waits for the current response to end. */
  get hasDeferred(): boolean {
    return this.#deferred !== undefined;
  }

  /** Our request that is out, if any. */
  get outstanding(): ResponseRequest | undefined {
    return this.#out;
  }

  /** Asks for a response; `eventId` identifies it (`attempt` 2: asked again). */
  request(
    options: ResponseCreateOptions | undefined,
    policy: BusyPolicy,
    eventId: string,
    attempt = 1,
  ): GateDecision {
    const request = { eventId, options, policy, attempt };
    if (this.#state === "idle") {
      this.#state = "requested";
      this.#out = request;
      return { kind: "send", request };
    }
    if (policy === "drop") return { kind: "dropped" };
    this.#deferred = request; // the latest wins: one response answers everything said so far
    return { kind: "deferred" };
  }

  /**
   * `response.created`, with the request id echoed in its metadata (undefined for a
   * response the server started itself).
   */
  created(_responseId: string | undefined, requestEventId: string | undefined): void {
    this.#state = "active";
    if (requestEventId !== undefined && this.#out?.eventId === requestEventId) {
      this.#out = undefined;
    }
  }

  /**
   * `response.done`. Returns the request to send now (the deferred one), if any; the
   * gate is then `requested` again.
   */
  done(_responseId: string | undefined): ResponseRequest | undefined {
    if (this.#out !== undefined) {
      // Ours is still out (the server's own response was the one that ended): wait for it.
      this.#state = "requested";
      return undefined;
    }
    this.#state = "idle";
    return this.#next();
  }

  /**
   * The server refused the event `eventId` with `code`; `transient` when the error was the
   * server's own (`server_error`), which the same request may not meet again.
   */
  rejected(eventId: string, code: string | undefined, transient = false): RejectionOutcome {
    const out = this.#out;
    if (out === undefined || out.eventId !== eventId) return { kind: "unknown" };
    this.#out = undefined;
    if (code === "conversation_already_has_active_response") {
      this.#state = "active"; // the server's own response: its done frees the gate
      if (out.policy === "drop") return { kind: "dropped" };
      this.#deferred ??= out;
      return { kind: "waiting" };
    }
    if (this.#state === "requested") this.#state = "idle";
    const next = this.#state === "idle" ? this.#next() : undefined;
    const retry = transient && out.attempt < 2 && next === undefined && this.#deferred === undefined
      ? out
      : undefined;
    return { kind: "failed", next, retry };
  }

  /**
   * Our request `eventId` got no `response.created` by its deadline: forget it. Returns
   * false when it was answered or refused meanwhile.
   */
  expired(eventId: string): boolean {
    if (this.#out?.eventId !== eventId) return false;
    this.#out = undefined;
    if (this.#state === "requested") this.#state = "idle";
    return true;
  }

  /** Forgets everything (a new session starts with no response). */
  reset(): void {
    this.#state = "idle";
    this.#out = undefined;
    this.#deferred = undefined;
  }

  #next(): ResponseRequest | undefined {
    const next = this.#deferred;
    this.#deferred = undefined;
    if (next === undefined) return undefined;
    this.#state = "requested";
    this.#out = next;
    return next;
  }
}

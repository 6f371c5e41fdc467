/**
 * What a call is for, when it is not an ordinary incoming call: e.g. a reminder call the
 * service placed itself. The call manager uses it in place of the receptionist's prompt and
 * greeting, adds its tools, and tells it when the call is over.
 *
 * @module
 */
import type { Tool } from "../agent/tools.ts";
import type { CallRecord } from "./record.ts";

/** A call's purpose, given by whoever placed (or routes) the call. */
export interface CallPurpose {
  /** Short name for logs and the call record, e.g. `reminder`. */
  kind: string;
  /** True for calls this service placed (they count against `MAX_CALLS` like others). */
  outbound: boolean;
  /** The other party's number: the customer (tools look bookings up by it). */
  customerNumber: string;
  /** Session instructions replacing the receptionist's. */
  instructions: string;
  /** What the agent says first. */
  greeting: string;
  /** Tools added to the usual ones. */
  tools: Tool[];
  /** Kept in the call record's `extra.purpose`. */
  details: Record<string, unknown>;
  /** Called once with the final call record. */
  onEnded?(record: CallRecord): void | Promise<void>;
}

/**
 * Tools of a reminder call: the customer confirms they will come (`confirm_booking`), or
 * asks not to be reminded again (`opt_out`). Cancelling, moving and transferring use the
 * usual booking and call-control tools. Thin adapters over what the reminder service does.
 *
 * @module
 */
import { z } from "zod";
import { defineTool, type Tool, type ToolContext } from "./tools.ts";

/** Outcome of a confirmation. */
export type ConfirmOutcome =
  | { ok: true; bookingId: string; label: string }
  | { ok: false; code: "not_found" | "cancelled" | "already_started"; message: string };

/** What the reminder tools need from the reminder service. */
export interface ReminderToolDeps {
  /** Records that the customer confirmed the booking this call is about. */
  confirm(ctx: ToolContext): Promise<ConfirmOutcome>;
  /** Records that the customer's number wants no more reminders. */
  optOut(ctx: ToolContext): Promise<void>;
  /** Handler deadline (default 5000 ms). */
  timeoutMs?: number;
}

/** Builds `confirm_booking` and `opt_out` for one reminder call. */
export function reminderTools(deps: ReminderToolDeps): Tool[] {
  const timeoutMs = deps.timeoutMs ?? 5000;
  return [
    defineTool({
      name: "confirm_booking",
      description:
        "Records that the customer confirmed they will come to the appointment this call is about.",
      parameters: z.object({}),
      timeoutMs,
      handler: async (_args, ctx) => {
        const outcome = await deps.confirm(ctx);
        if (!outcome.ok) return { error: { code: outcome.code, message: outcome.message } };
        return { status: "confirmed", booking_id: outcome.bookingId, label: outcome.label };
      },
    }),
    defineTool({
      name: "opt_out",
      description:
        "The customer does not want reminder calls or texts: no reminder will reach this number again.",
      parameters: z.object({}),
      timeoutMs,
      handler: async (_args, ctx) => {
        await deps.optOut(ctx);
        return {
          status: "opted_out",
          note: "Tell the customer they will not get reminder calls or texts any more.",
        };
      },
    }),
  ];
}

/**
 * A reminder call once Twilio placed it: the voice webhook (someone answered), the
 * answering-machine verdict, the status callbacks, and the call's purpose (prompt, greeting,
 * tools) for the call manager. Any instance handles any of them: everything it needs is in
 * the store and in the signed link.
 *
 * - A person: the agent, on the usual call bridge, with a reminder prompt built from the
 *   booking; the customer can confirm (`confirm_booking`), cancel, reschedule, opt out
 *   (`opt_out`) or ask for a person (`transfer_call`).
 * - A machine: when its greeting and beep are over, the call is redirected to a `<Say>` with
 *   the date, time and the business's number, then hangs up.
 *
 * @module
 */
import type { BusinessProfile } from "../booking/business.ts";
import type { Booking, BookingStore } from "../booking/types.ts";
import type { CallPurpose } from "../call/purpose.ts";
import type { CallRecord } from "../call/record.ts";
import type { ToolContext } from "../agent/tools.ts";
import { type ConfirmOutcome, reminderTools } from "../agent/reminder_tools.ts";
import type { Admission, IncomingCallInfo } from "../twilio/routes.ts";
import { CALL_TOKEN_PARAM } from "../twilio/routes.ts";
import type { CallTokenSigner } from "../twilio/call_token.ts";
import type { StreamStart } from "../twilio/protocol.ts";
import type { TwilioParams } from "../twilio/signature.ts";
import { hangUpTwiml, sayAndHangUpTwiml, streamTwiml } from "../twilio/twiml.ts";
import { logger } from "../log.ts";
import type { ReminderLinks, ReminderRef } from "./links.ts";
import { STREAM_PARAMS } from "./links.ts";
import { callProgressed, isMachineDone, machineDetected, responded } from "./machine.ts";
import {
  busyReminderMessage,
  dialableNumber,
  noLongerNeededMessage,
  reminderGreeting,
  reminderInstructions,
  voicemailMessage,
} from "./messages.ts";
import type { ReminderPolicy } from "./schedule.ts";
import { updated } from "./update.ts";
import type { ReminderTwilio, RingingCalls } from "./worker.ts";

const log = logger("reminders", "calls");

/** What the call manager offers reminder calls. */
export interface ReminderCallHost {
  /** Whether a call may be taken now (`MAX_CALLS`, draining). */
  admission(): Admission;
  /** Opens the model session for an answered call while Twilio connects the stream. */
  onIncomingCall(info: IncomingCallInfo, purpose: CallPurpose): void;
}

/** What reminder calls need. */
export interface ReminderCallsDeps {
  profile: BusinessProfile;
  store: BookingStore;
  twilio: ReminderTwilio;
  links: ReminderLinks;
  callTokens: () => Promise<CallTokenSigner>;
  policy: ReminderPolicy;
  ringing: RingingCalls;
  host: ReminderCallHost;
  publicUrl: string;
  /** Whether `transfer_call` is offered. */
  canTransfer: boolean;
  /** How long an answered call may go before its watchdog looks at it. */
  callWatchdogMs: number;
  now: () => Temporal.Instant;
}

function first(params: TwilioParams, name: string): string | undefined {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Handles a reminder call's webhooks and builds its purpose. */
export class ReminderCalls {
  readonly #d: ReminderCallsDeps;

  constructor(deps: ReminderCallsDeps) {
    this.#d = deps;
  }

  #nowMs(): number {
    return this.#d.now().epochMilliseconds;
  }

  /** A `<Say>` in the profile's locale, then hang up. */
  #say(message: string): string {
    return sayAndHangUpTwiml(message, { language: this.#d.profile.locale });
  }

  /**
   * The voice webhook: the call was answered. Returns the TwiML: the media stream to the
   * agent; or, with a synchronous machine verdict (`AnsweredBy` here), the message.
   */
  async answered(ref: ReminderRef, params: TwilioParams): Promise<string> {
    const d = this.#d;
    const callSid = first(params, "CallSid") ?? "";
    d.ringing.release(`${ref.bookingId}:${ref.attempt}`);
    const booking = await d.store.getBooking(ref.bookingId);
    if (!booking) return this.#say(noLongerNeededMessage(d.profile));
    await updated(d.store, ref.bookingId, (r, b) =>
      callProgressed(
        r,
        b,
        { n: ref.attempt, callSid, status: "in-progress", nowMs: this.#nowMs() },
        d.policy,
        d.callWatchdogMs,
      ));
    const answeredBy = first(params, "AnsweredBy");
    if (answeredBy) {
      await updated(
        d.store,
        ref.bookingId,
        (r) => machineDetected(r, ref.attempt, callSid, answeredBy, this.#nowMs()),
      );
      if (answeredBy === "fax") return hangUpTwiml();
      if (isMachineDone(answeredBy) && booking.status === "confirmed") {
        return this.#say(voicemailMessage(d.profile, booking));
      }
    }
    if (booking.status !== "confirmed") return this.#say(noLongerNeededMessage(d.profile));
    const admission = d.host.admission();
    if (!admission.accept) {
      // Every line is busy: read the reminder out instead, so it is not lost.
      log.warn("reminder call {callSid} answered with no free line: reading the message", {
        callSid,
      });
      return this.#say(busyReminderMessage(d.profile, booking));
    }
    const customer = first(params, "To") ?? dialableNumber(booking.customerPhone, d.profile.phone);
    const ours = first(params, "From") ?? "";
    const purpose = this.#purpose(ref, booking, customer ?? booking.customerPhone);
    d.host.onIncomingCall({ callSid, from: purpose.customerNumber, to: ours, params }, purpose);
    const callToken = await (await d.callTokens()).issue({
      callSid,
      from: purpose.customerNumber,
      to: ours,
    });
    log.info("reminder call {callSid} answered: connecting the agent", { callSid });
    return streamTwiml({
      publicUrl: d.publicUrl,
      parameters: {
        [CALL_TOKEN_PARAM]: callToken,
        from: purpose.customerNumber,
        to: ours,
        [STREAM_PARAMS.reminder]: ref.bookingId,
        [STREAM_PARAMS.attempt]: String(ref.attempt),
        [STREAM_PARAMS.sig]: await d.links.sign(ref),
      },
    });
  }

  /**
   * The asynchronous answering-machine verdict. A machine whose greeting (and beep) is over
   * gets the message now: the live call is redirected to a `<Say>` and hangs up. A fax is
   * hung up on. `human` / `unknown` are recorded; the agent keeps talking.
   */
  async machineVerdict(ref: ReminderRef, params: TwilioParams): Promise<void> {
    const d = this.#d;
    const callSid = first(params, "CallSid") ?? "";
    const answeredBy = first(params, "AnsweredBy") ?? "unknown";
    let repeat = false;
    const written = await updated(d.store, ref.bookingId, (r) => {
      repeat = r.attempts.some((a) => a.n === ref.attempt && a.answeredBy === answeredBy);
      return repeat
        ? undefined
        : machineDetected(r, ref.attempt, callSid, answeredBy, this.#nowMs());
    });
    log.info("reminder call {callSid}: answered by {answeredBy}", { callSid, answeredBy });
    if (repeat || !written) return; // Twilio retried the callback, or the call is over
    if (answeredBy === "fax") {
      await d.twilio.hangUp(callSid);
      return;
    }
    if (!isMachineDone(answeredBy)) return;
    const booking = await d.store.getBooking(ref.bookingId);
    if (!booking || booking.status !== "confirmed") {
      await d.twilio.hangUp(callSid);
      return;
    }
    await d.twilio.redirect(callSid, this.#say(voicemailMessage(d.profile, booking)));
  }

  /** A status callback of the reminder call. */
  async status(ref: ReminderRef, params: TwilioParams): Promise<void> {
    const d = this.#d;
    const callSid = first(params, "CallSid") ?? "";
    const status = first(params, "CallStatus") ?? "";
    if (["completed", "busy", "no-answer", "failed", "canceled"].includes(status)) {
      d.ringing.release(`${ref.bookingId}:${ref.attempt}`);
    }
    const errorCode = first(params, "ErrorCode");
    await updated(d.store, ref.bookingId, (r, b) =>
      callProgressed(
        r,
        b,
        {
          n: ref.attempt,
          callSid,
          status,
          nowMs: this.#nowMs(),
          ...(errorCode ? { detail: `Twilio error ${errorCode}` } : {}),
        },
        d.policy,
        d.callWatchdogMs,
      ));
  }

  /**
   * The purpose of a media stream that carries reminder parameters; undefined for any other
   * stream. Rejects when the parameters do not check out (the stream is then closed).
   */
  async purposeFor(start: StreamStart): Promise<CallPurpose | undefined> {
    const p = start.customParameters;
    const named = p[STREAM_PARAMS.reminder];
    if (named === undefined) return undefined;
    const d = this.#d;
    const ref = await d.links.verify(named, p[STREAM_PARAMS.attempt], p[STREAM_PARAMS.sig]);
    if (!ref) throw new Error("reminder stream parameters with a bad signature");
    const [booking, reminder] = await Promise.all([
      d.store.getBooking(ref.bookingId),
      d.store.getReminder(ref.bookingId),
    ]);
    const attempt = reminder?.attempts.find((a) => a.n === ref.attempt);
    if (!booking || !attempt || attempt.callSid !== start.callSid) {
      throw new Error(`no reminder call ${start.callSid} for ${ref.bookingId}#${ref.attempt}`);
    }
    if (booking.status !== "confirmed") throw new Error(`booking ${booking.id} was cancelled`);
    const customer = dialableNumber(booking.customerPhone, d.profile.phone) ??
      booking.customerPhone;
    return this.#purpose(ref, booking, customer);
  }

  #purpose(ref: ReminderRef, booking: Booking, customerNumber: string): CallPurpose {
    const d = this.#d;
    return {
      kind: "reminder",
      outbound: true,
      customerNumber,
      instructions: reminderInstructions({
        profile: d.profile,
        booking,
        now: d.now(),
        customerNumber,
        canTransfer: d.canTransfer,
      }),
      greeting: reminderGreeting(d.profile, booking),
      tools: reminderTools({
        confirm: (ctx) => this.#confirm(ref, ctx),
        optOut: (ctx) => this.#optOut(ref, customerNumber, ctx),
      }),
      details: { bookingId: ref.bookingId, attempt: ref.attempt },
      onEnded: (record) => this.#ended(ref, record),
    };
  }

  async #confirm(ref: ReminderRef, ctx: ToolContext): Promise<ConfirmOutcome> {
    const d = this.#d;
    const booking = await d.store.getBooking(ref.bookingId);
    if (!booking) return { ok: false, code: "not_found", message: "The booking is gone." };
    if (booking.status !== "confirmed") {
      return { ok: false, code: "cancelled", message: "That booking was cancelled." };
    }
    if (Date.parse(booking.start) <= this.#nowMs()) {
      return { ok: false, code: "already_started", message: "That appointment has started." };
    }
    await updated(
      d.store,
      ref.bookingId,
      (r) => responded(r, ctx.callSid, "confirmed", this.#nowMs()),
    );
    log.info("booking {bookingId} confirmed on its reminder call", {
      bookingId: booking.id,
      callSid: ctx.callSid,
    });
    return { ok: true, bookingId: booking.id, label: booking.label };
  }

  async #optOut(ref: ReminderRef, number: string, ctx: ToolContext): Promise<void> {
    const d = this.#d;
    await d.store.optOut(number, "call", this.#nowMs());
    await updated(
      d.store,
      ref.bookingId,
      (r) => responded(r, ctx.callSid, "opted_out", this.#nowMs()),
    );
    log.info("{callSid}: the customer opted out of reminders", { callSid: ctx.callSid });
  }

  /** Keeps what the customer did on the call on its attempt. */
  async #ended(ref: ReminderRef, record: CallRecord): Promise<void> {
    const done = new Set(
      record.toolCalls.filter((t) => t.error === undefined).map((t) =>
        (t.result as { status?: string } | undefined)?.status
      ),
    );
    const response = done.has("cancelled")
      ? "cancelled"
      : done.has("rescheduled")
      ? "rescheduled"
      : done.has("opted_out")
      ? "opted_out"
      : done.has("confirmed")
      ? "confirmed"
      : done.has("transferring")
      ? "transferred"
      : "none";
    await updated(
      this.#d.store,
      ref.bookingId,
      (r) => responded(r, record.callSid, response, this.#nowMs()),
    );
  }
}

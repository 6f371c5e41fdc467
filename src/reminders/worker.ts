/**
 * The reminder worker of one instance: every tick it plans new reminders, claims due work
 * from the store with a lease, and places the calls (or sends the texts). Several instances
 * on one PostgreSQL run one worker each; the claim (`FOR UPDATE SKIP LOCKED` under a
 * per-schema lock) hands each reminder to one of them.
 *
 * Exactly once, also when an instance dies mid-way:
 * - an attempt is written (`dialing`, with its start time) before Twilio is asked, and the
 *   lease outlives the REST request by far;
 * - once Twilio answers, the call's SID is kept and the lease becomes a watchdog that no
 *   instance owns: the call's callbacks (to any instance) move the reminder on;
 * - a reminder whose lease or watchdog expired is taken over: with a SID, Twilio is asked how
 *   the call went; without one, Twilio is asked for calls (or texts) to that number since the
 *   attempt started, and only when there are none is the customer dialled (again).
 *
 * @module
 */
import type { BusinessProfile } from "../booking/business.ts";
import type { Booking, BookingStore, Reminder, ReminderWithBooking } from "../booking/types.ts";
import { logger } from "../log.ts";
import { CallControlError, type TwilioCallControl } from "../twilio/rest.ts";
import {
  REMINDER_AMD_PATH,
  REMINDER_STATUS_PATH,
  REMINDER_VOICE_PATH,
  type ReminderLinks,
} from "./links.ts";
import {
  begun,
  callPlaced,
  callProgressed,
  callRefused,
  ended,
  notPlaced,
  planned,
  postponed,
  smsRefused,
  smsSent,
} from "./machine.ts";
import { dialableNumber, reminderSms } from "./messages.ts";
import { checkDue, planReminder, type ReminderPolicy } from "./schedule.ts";
import { updated } from "./update.ts";
import { errorMessage } from "../errors.ts";

const log = logger("reminders");

/** The REST operations reminders use. */
export type ReminderTwilio = Pick<
  TwilioCallControl,
  | "placeCall"
  | "fetchCall"
  | "findCalls"
  | "cancelCall"
  | "redirect"
  | "hangUp"
  | "sendSms"
  | "findMessages"
>;

/** How long Twilio lets a reminder call ring. */
export const RING_SECONDS = 25;

/**
 * Outbound calls of this instance that are being placed or ringing: each holds a call slot
 * (`MAX_CALLS`) until it is answered here, ends, or could have rung out.
 */
export class RingingCalls {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  /** @param now clock in epoch ms */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Holds a slot for `key` for at most `ms`. */
  hold(key: string, ms: number): void {
    this.#until.set(key, this.#now() + ms);
  }

  /** Frees the slot of `key` (answered, ended, or never placed). */
  release(key: string): void {
    this.#until.delete(key);
  }

  /** Slots held now. */
  get count(): number {
    const now = this.#now();
    for (const [key, until] of this.#until) if (until <= now) this.#until.delete(key);
    return this.#until.size;
  }
}

/** What the worker needs. */
export interface ReminderWorkerDeps {
  profile: BusinessProfile;
  store: BookingStore;
  twilio: ReminderTwilio;
  links: ReminderLinks;
  policy: ReminderPolicy;
  ringing: RingingCalls;
  /** Free call slots on this instance now (`MAX_CALLS` less the inbound reserve and load). */
  callSlots(): number;
  /** `OUTBOUND_CALLS_PER_MINUTE`, across all instances. */
  callsPerMinute: number;
  /** Number calls are placed from. */
  callFrom?: string;
  /** Sender of texts; undefined: no texts. */
  smsFrom?: string;
  /** Longest call (`MAX_CALL_SECONDS`). */
  maxCallSeconds: number;
  /** This instance's name in leases (unique per process). */
  owner: string;
  /** Clock. */
  now: () => Temporal.Instant;
  /** Time between ticks, ms. */
  tickMs: number;
  /** Lease on claimed work, ms (far longer than a REST request). */
  leaseMs: number;
  /** Most reminders worked on per tick. */
  batch: number;
}

/** Plans, claims and dials, one tick at a time. */
export class ReminderWorker {
  readonly #d: ReminderWorkerDeps;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = true;

  constructor(deps: ReminderWorkerDeps) {
    this.#d = deps;
  }

  /** How long an answered call may go before its watchdog looks at it. */
  get callWatchdogMs(): number {
    return this.#d.maxCallSeconds * 1000 + 2 * 60_000;
  }

  /** Starts ticking (the first tick runs at once). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops ticking; resolves once the current tick is over. Leases left are taken over later. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#running = this.tick().catch((error) =>
        log.error("reminder tick failed: {error}", { error: errorMessage(error) })
      ).finally(() => {
        if (!this.#stopped) this.#schedule(this.#d.tickMs);
      });
    }, ms);
  }

  /** One round of work: plan, claim, act. Exposed for tests. */
  async tick(): Promise<void> {
    const d = this.#d;
    await this.#plan();
    const nowMs = d.now().epochMilliseconds;
    const claimed = await d.store.claimReminders({
      owner: d.owner,
      nowMs,
      leaseMs: d.leaseMs,
      limit: d.batch,
      callSlots: d.callFrom ? d.callSlots() : 0,
      callsPerMinute: d.callsPerMinute,
    });
    await Promise.all(
      claimed.map((c) =>
        this.#work(c).catch((error) =>
          log.error("reminder {bookingId} failed: {error}", {
            bookingId: c.reminder.bookingId,
            error: errorMessage(error),
          })
        )
      ),
    );
  }

  /** Gives new and moved bookings their due time. */
  async #plan(): Promise<void> {
    const d = this.#d;
    for (const { reminder, booking } of await d.store.unplannedReminders(d.batch)) {
      const plan = planReminder(d.policy, {
        startMs: Date.parse(booking.start),
        sinceMs: reminder.sinceMs,
      });
      await updated(
        d.store,
        reminder.bookingId,
        (r) => planned(r, reminder.round, plan, d.now().epochMilliseconds),
      );
    }
  }

  #work(c: ReminderWithBooking): Promise<void> {
    return c.reminder.state === "dialing" || c.reminder.state === "answered" ||
        c.reminder.state === "voicemail"
      ? this.#takeOver(c)
      : this.#begin(c);
  }

  /** A due reminder: last checks, then the attempt. */
  async #begin({ reminder, booking }: ReminderWithBooking): Promise<void> {
    const d = this.#d;
    const id = reminder.bookingId;
    const nowMs = d.now().epochMilliseconds;
    const end = (result: string) => updated(d.store, id, (r) => ended(r, d.owner, result, nowMs));
    if (booking.status !== "confirmed") return void await end("dropped");
    const to = dialableNumber(booking.customerPhone, d.profile.phone);
    if (!to) return void await end("no_number");
    if (await d.store.isOptedOut(to)) return void await end("opted_out");
    const due = checkDue(d.policy, { startMs: Date.parse(booking.start), nowMs });
    if (due.kind === "none") return void await end(due.reason);
    if (due.kind === "wait") {
      return void await updated(d.store, id, (r) => postponed(r, d.owner, due.dueMs, nowMs));
    }
    const from = reminder.channel === "sms" ? d.smsFrom : d.callFrom;
    if (!from) return void await end("gave_up"); // texts or calls were switched off since
    const started = await updated(d.store, id, (r) => begun(r, d.owner, nowMs, d.leaseMs));
    if (!started) return; // the booking changed meanwhile
    const n = started.attempts.at(-1)!.n;
    if (started.channel === "sms") await this.#text(started, booking, n, to, from);
    else await this.#dial(started, n, to, from);
  }

  async #dial(r: Reminder, n: number, to: string, from: string): Promise<void> {
    const d = this.#d;
    const ref = { bookingId: r.bookingId, attempt: n };
    const key = `${r.bookingId}:${n}`;
    d.ringing.hold(key, (RING_SECONDS + 35) * 1000);
    let sid: string;
    try {
      const call = await d.twilio.placeCall({
        to,
        from,
        url: await d.links.url(REMINDER_VOICE_PATH, ref),
        statusCallback: await d.links.url(REMINDER_STATUS_PATH, ref),
        amdCallback: await d.links.url(REMINDER_AMD_PATH, ref),
        ringSeconds: RING_SECONDS,
        timeLimitSeconds: d.maxCallSeconds,
      });
      sid = call.sid;
    } catch (error) {
      d.ringing.release(key);
      if (error instanceof CallControlError && error.status !== undefined) {
        // Twilio answered with an error: the call was not placed.
        await updated(
          d.store,
          r.bookingId,
          (x, b) => callRefused(x, b, n, error.message, d.policy, d.now().epochMilliseconds),
        );
        return;
      }
      // No answer from Twilio: the call may exist. The lease runs out and whoever takes the
      // reminder over asks Twilio before dialling again.
      log.warn("placing reminder call {bookingId}#{n} has an unknown outcome: {error}", {
        bookingId: r.bookingId,
        n,
        error: errorMessage(error),
      });
      return;
    }
    log.info("reminder call {callSid} placed for {bookingId}#{n}", {
      callSid: sid,
      bookingId: r.bookingId,
      n,
    });
    await updated(d.store, r.bookingId, (x) => callPlaced(x, n, sid, d.now().epochMilliseconds));
    const now = await d.store.getReminder(r.bookingId);
    if (!now || now.round !== r.round || now.state === "done") {
      // The booking was cancelled or moved while Twilio took the call: call it off.
      log.info("reminder {bookingId} changed while dialling: cancelling {callSid}", {
        bookingId: r.bookingId,
        callSid: sid,
      });
      d.ringing.release(key);
      await d.twilio.cancelCall(sid);
    }
  }

  async #text(r: Reminder, booking: Booking, n: number, to: string, from: string): Promise<void> {
    const d = this.#d;
    let sid: string;
    try {
      sid = (await d.twilio.sendSms(to, from, reminderSms(d.profile, booking))).sid;
    } catch (error) {
      if (error instanceof CallControlError && error.status !== undefined) {
        await updated(
          d.store,
          r.bookingId,
          (x) => smsRefused(x, n, error.message, d.now().epochMilliseconds),
        );
      }
      return; // otherwise: unknown outcome, reconciled after the lease
    }
    await updated(d.store, r.bookingId, (x) => smsSent(x, n, sid, d.now().epochMilliseconds));
  }

  /** An in-flight reminder whose lease or watchdog expired: ask Twilio how it went. */
  async #takeOver({ reminder: r, booking }: ReminderWithBooking): Promise<void> {
    const d = this.#d;
    const a = r.attempts.at(-1);
    const nowMs = d.now().epochMilliseconds;
    const to = dialableNumber(booking.customerPhone, d.profile.phone);
    if (!a || !to) {
      await updated(d.store, r.bookingId, (x) =>
        x.leaseOwner === d.owner
          ? {
            ...x,
            state: "done",
            result: "failed",
            leaseOwner: null,
            leaseUntilMs: null,
            updatedMs: nowMs,
          }
          : undefined);
      return;
    }
    log.info("taking over reminder {bookingId}#{n} ({state})", {
      bookingId: r.bookingId,
      n: a.n,
      state: r.state,
    });
    // A little slack for clocks: Twilio stamps the call, this instance stamped the attempt.
    const since = a.startedMs - 5000;
    const known = new Set(r.attempts.flatMap((x) => x.callSid ?? x.messageSid ?? []));
    if (a.channel === "sms") {
      if (a.messageSid) {
        await updated(d.store, r.bookingId, (x) => smsSent(x, a.n, a.messageSid!, nowMs));
        return;
      }
      const sent = (await d.twilio.findMessages({ to, from: d.smsFrom ?? "", sinceMs: since }))
        .filter((m) => !known.has(m.sid));
      await updated(
        d.store,
        r.bookingId,
        (x) => sent.length > 0 ? smsSent(x, a.n, sent[0].sid, nowMs) : notPlaced(x, a.n, nowMs),
      );
      return;
    }
    let callSid = a.callSid;
    if (!callSid) {
      const found = (await d.twilio.findCalls({ to, from: d.callFrom ?? "", sinceMs: since }))
        .filter((c) => !known.has(c.sid)).sort((x, y) => x.createdMs - y.createdMs);
      if (found.length === 0) {
        log.info("reminder {bookingId}#{n} was never placed: due again", {
          bookingId: r.bookingId,
          n: a.n,
        });
        await updated(d.store, r.bookingId, (x) => notPlaced(x, a.n, nowMs));
        return;
      }
      callSid = found[0].sid;
      log.info("reminder {bookingId}#{n} was placed as {callSid}: adopted", {
        bookingId: r.bookingId,
        n: a.n,
        callSid,
      });
    }
    const call = await d.twilio.fetchCall(callSid);
    await updated(d.store, r.bookingId, (x, b) =>
      callProgressed(
        x,
        b,
        { n: a.n, callSid: call.sid, status: call.status, nowMs },
        d.policy,
        this.callWatchdogMs,
      ));
  }
}

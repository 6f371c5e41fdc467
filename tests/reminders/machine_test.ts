/**
 * The reminder state machine on its own: each event moves the reminder only when it still
 * applies (current attempt, own lease), repeats are harmless, and unanswered calls go to one
 * retry, then a text or the end.
 */
import assert from "node:assert/strict";
import type { Booking, Reminder } from "../../src/booking/types.ts";
import {
  begun,
  callPlaced,
  callProgressed,
  callRefused,
  machineDetected,
  notPlaced,
  planned,
  responded,
} from "../../src/reminders/machine.ts";
import type { ReminderPolicy } from "../../src/reminders/schedule.ts";
import { testProfile } from "../booking/fixtures.ts";

const T0 = Temporal.ZonedDateTime.from("2026-03-02T10:00[America/New_York]").epochMilliseconds;
const booking = { start: "2026-03-03T15:00:00-05:00", status: "confirmed" } as Booking;
const policy = (smsEnabled = false): ReminderPolicy => ({
  profile: testProfile(),
  hoursBefore: 24,
  retryMinutes: 60,
  mode: "call",
  smsEnabled,
});
const WATCH = 600_000;

function fresh(): Reminder {
  return {
    bookingId: "K7M4QX",
    state: "scheduled",
    channel: "call",
    round: 1,
    dueMs: T0,
    sinceMs: T0 - 86_400_000,
    result: null,
    attempts: [],
    leaseOwner: "a",
    leaseUntilMs: T0 + 60_000,
    lastDialMs: T0,
    updatedMs: T0,
  };
}

/** A reminder whose first call Twilio took. */
function placed(): Reminder {
  const r = begun(fresh(), "a", T0, 60_000)!;
  return callPlaced(r, 1, "CA1", T0 + 500)!;
}

Deno.test("machine: planning applies once, to the round it was made for", () => {
  const r = { ...fresh(), dueMs: null, leaseOwner: null, leaseUntilMs: null };
  const plan = { kind: "due", channel: "call", dueMs: T0 + 5 } as const;
  assert.equal(planned(r, 1, plan, T0)?.dueMs, T0 + 5);
  assert.equal(planned({ ...r, round: 2 }, 1, plan, T0), undefined, "the booking moved again");
  assert.equal(planned({ ...r, dueMs: 1 }, 1, plan, T0), undefined, "already planned");
  const none = planned(r, 1, { kind: "none", reason: "too_late" }, T0);
  assert.equal(none?.state, "done");
  assert.equal(none?.result, "too_late");
});

Deno.test("machine: an attempt starts only under the owner's lease", () => {
  assert.equal(begun(fresh(), "b", T0, 60_000), undefined);
  const r = begun(fresh(), "a", T0, 60_000)!;
  assert.equal(r.state, "dialing");
  assert.deepEqual(r.attempts, [{ n: 1, round: 1, channel: "call", startedMs: T0, owner: "a" }]);
  assert.equal(begun(r, "a", T0, 60_000), undefined, "not twice");
  const p = callPlaced(r, 1, "CA1", T0 + 500)!;
  assert.equal(p.leaseOwner, null, "the lease became a watchdog");
  assert.ok(p.leaseUntilMs! > T0 + 60_000);
  assert.equal(callPlaced(p, 1, "CA2", T0 + 600), undefined, "another SID for the same attempt");
});

Deno.test("machine: answered, then completed; late and repeated callbacks change nothing", () => {
  const answered = callProgressed(
    placed(),
    booking,
    { n: 1, callSid: "CA1", status: "in-progress", nowMs: T0 + 5000 },
    policy(),
    WATCH,
  )!;
  assert.equal(answered.state, "answered");
  assert.equal(answered.leaseUntilMs, T0 + 5000 + WATCH);
  const done = callProgressed(
    answered,
    booking,
    { n: 1, callSid: "CA1", status: "completed", nowMs: T0 + 60_000 },
    policy(),
    WATCH,
  )!;
  assert.equal(done.state, "done");
  assert.equal(done.result, "answered");
  const again = { n: 1, callSid: "CA1", status: "completed", nowMs: T0 + 61_000 };
  assert.equal(callProgressed(done, booking, again, policy(), WATCH), undefined);
  const late = { n: 1, callSid: "CA1", status: "ringing", nowMs: T0 + 62_000 };
  assert.equal(callProgressed(done, booking, late, policy(), WATCH), undefined);
  const foreign = { n: 1, callSid: "CA9", status: "completed", nowMs: T0 };
  assert.equal(callProgressed(answered, booking, foreign, policy(), WATCH), undefined);
});

Deno.test("machine: a machine's verdict means voicemail; completed then ends it as voicemail", () => {
  const r = machineDetected(placed(), 1, "CA1", "machine_end_beep", T0 + 9000)!;
  assert.equal(r.state, "voicemail");
  assert.equal(r.attempts[0].answeredBy, "machine_end_beep");
  const human = machineDetected(placed(), 1, "CA1", "human", T0 + 2000)!;
  assert.equal(human.state, "dialing", "recorded only");
  const done = callProgressed(
    r,
    booking,
    { n: 1, callSid: "CA1", status: "completed", nowMs: T0 + 30_000 },
    policy(),
    WATCH,
  )!;
  assert.equal(done.result, "voicemail");
});

Deno.test("machine: no answer -> one retry; a second no answer -> a text, or the end", () => {
  const noAnswer = { n: 1, callSid: "CA1", status: "no-answer", nowMs: T0 + 30_000 };
  const r1 = callProgressed(placed(), booking, noAnswer, policy(), WATCH)!;
  assert.equal(r1.state, "no_answer");
  assert.equal(r1.dueMs, T0 + 30_000 + 3_600_000);
  assert.equal(r1.leaseOwner, null);
  assert.equal(r1.attempts[0].result, "no_answer");
  // The retry is claimed and placed, and goes unanswered too (busy this time).
  const r2 = callPlaced(begun({ ...r1, leaseOwner: "b" }, "b", r1.dueMs!, 60_000)!, 2, "CA2", 0)!;
  const busy = { n: 2, callSid: "CA2", status: "busy", nowMs: r1.dueMs! + 20_000 };
  const gaveUp = callProgressed(r2, booking, busy, policy(false), WATCH)!;
  assert.equal(gaveUp.state, "done");
  assert.equal(gaveUp.result, "gave_up");
  const text = callProgressed(r2, booking, busy, policy(true), WATCH)!;
  assert.equal(text.state, "no_answer");
  assert.equal(text.channel, "sms");
  assert.equal(text.dueMs, busy.nowMs);
});

Deno.test("machine: Twilio refusing a call is a failed try; a call never placed is no try", () => {
  const r = begun(fresh(), "a", T0, 60_000)!;
  const refused = callRefused(r, booking, 1, "21215: geo permission", policy(), T0 + 100)!;
  assert.equal(refused.state, "failed");
  assert.equal(refused.attempts[0].detail, "21215: geo permission");
  const lost = notPlaced(r, 1, T0 + 70_000)!;
  assert.equal(lost.state, "scheduled");
  assert.equal(lost.dueMs, T0 + 70_000, "due again at once");
  assert.equal(lost.attempts[0].result, "not_placed");
  const again = begun({ ...lost, leaseOwner: "b" }, "b", T0 + 70_100, 60_000)!;
  const noAnswer = { n: 2, callSid: "CA2", status: "no-answer", nowMs: T0 + 100_000 };
  const retry = callProgressed(
    callPlaced(again, 2, "CA2", 0)!,
    booking,
    noAnswer,
    policy(),
    WATCH,
  )!;
  assert.equal(retry.state, "no_answer", "the lost attempt did not use up the retry");
});

Deno.test("machine: what the customer said is kept on the call's attempt", () => {
  const r = responded(placed(), "CA1", "confirmed", T0)!;
  assert.equal(r.attempts[0].response, "confirmed");
  assert.equal(responded(r, "CA1", "confirmed", T0), undefined);
  assert.equal(responded(r, "CA9", "cancelled", T0), undefined);
});

/**
 * When reminders go out: the calling window in the business's time zone (DST included),
 * never on a closed date, nearest to the ideal time, too late means a text or nothing, one
 * retry inside the window.
 */
import assert from "node:assert/strict";
import { BusinessProfileError } from "../../src/booking/business.ts";
import {
  checkDue,
  inWindow,
  lastWindowMoment,
  MIN_LEAD_MS,
  nextWindowMoment,
  planAfterNoAnswer,
  planReminder,
  type ReminderPolicy,
} from "../../src/reminders/schedule.ts";
import { testProfile } from "../booking/fixtures.ts";

const NY = "America/New_York";
const ms = (iso: string) => Temporal.ZonedDateTime.from(`${iso}[${NY}]`).epochMilliseconds;
const iso = (t: number) =>
  Temporal.Instant.fromEpochMilliseconds(t).toZonedDateTimeISO(NY).toPlainDateTime().toString();

function policy(patch: Partial<ReminderPolicy> = {}): ReminderPolicy {
  return {
    profile: testProfile(), // closed 2026-03-06; default window 09:00-19:00
    hoursBefore: 24,
    retryMinutes: 60,
    mode: "call",
    smsEnabled: false,
    ...patch,
  };
}

Deno.test("schedule: the default window is 09:00-19:00 local, closed dates excluded", () => {
  const p = testProfile();
  assert.equal(inWindow(p, ms("2026-03-03T09:00")), true);
  assert.equal(inWindow(p, ms("2026-03-03T08:59")), false);
  assert.equal(inWindow(p, ms("2026-03-03T18:59")), true);
  assert.equal(inWindow(p, ms("2026-03-03T19:00")), false, "end is exclusive");
  assert.equal(inWindow(p, ms("2026-03-06T12:00")), false, "closed date (holiday)");
  assert.equal(iso(nextWindowMoment(p, ms("2026-03-05T20:00"))!), "2026-03-07T09:00:00");
  assert.equal(iso(lastWindowMoment(p, ms("2026-03-07T08:00"))!), "2026-03-05T18:59:00");
});

Deno.test("schedule: a profile's callingWindow is used and validated", () => {
  const p = testProfile({ callingWindow: { start: "10:30", end: "24:00" } });
  assert.equal(inWindow(p, ms("2026-03-03T10:29")), false);
  assert.equal(inWindow(p, ms("2026-03-03T23:59")), true);
  assert.throws(
    () => testProfile({ callingWindow: { start: "19:00", end: "09:00" } }),
    (e) =>
      e instanceof BusinessProfileError &&
      /callingWindow\.end: end must be after start/.test(e.message),
  );
});

Deno.test("schedule: the window follows daylight saving time (wall clock, not UTC)", () => {
  const p = testProfile();
  // 8 March 2026: New York springs forward; 09:00 is 13:00 UTC instead of 14:00.
  assert.equal(
    Temporal.Instant.fromEpochMilliseconds(nextWindowMoment(p, ms("2026-03-08T03:30"))!).toString(),
    "2026-03-08T13:00:00Z",
  );
  assert.equal(
    Temporal.Instant.fromEpochMilliseconds(nextWindowMoment(p, ms("2026-03-07T03:30"))!).toString(),
    "2026-03-07T14:00:00Z",
  );
});

Deno.test("schedule: due REMINDER_HOURS_BEFORE ahead, moved to the nearest window moment", () => {
  const since = ms("2026-03-01T12:00");
  // Tuesday 10:00 -> Monday 10:00, inside the window.
  assert.deepEqual(planReminder(policy(), { startMs: ms("2026-03-03T10:00"), sinceMs: since }), {
    kind: "due",
    channel: "call",
    dueMs: ms("2026-03-02T10:00"),
  });
  // Thursday 20:00 -> Wednesday 20:00 is past the window: 18:59 is nearer than 09:00 next day.
  const late = planReminder(policy(), { startMs: ms("2026-03-05T20:00"), sinceMs: since });
  assert.equal(late.kind === "due" && iso(late.dueMs), "2026-03-04T18:59:00");
  // Wednesday 08:00 -> Tuesday 08:00: 09:00 the same day is nearer than 18:59 the day before.
  const early = planReminder(policy(), { startMs: ms("2026-03-04T08:00"), sinceMs: since });
  assert.equal(early.kind === "due" && iso(early.dueMs), "2026-03-03T09:00:00");
  // Saturday 10:00 -> Friday 10:00 is a closed date: Thursday 18:59 (15 h) beats Saturday 09:00
  // (1 h before the start, allowed but further away: 23 h).
  const holiday = planReminder(policy(), { startMs: ms("2026-03-07T10:00"), sinceMs: since });
  assert.equal(holiday.kind === "due" && iso(holiday.dueMs), "2026-03-05T18:59:00");
});

Deno.test("schedule: a booking made after its reminder time gets none, or a text", () => {
  const start = ms("2026-03-03T15:00");
  const since = ms("2026-03-03T08:00"); // booked 7 h before
  assert.deepEqual(planReminder(policy(), { startMs: start, sinceMs: since }), {
    kind: "none",
    reason: "too_late",
  });
  const text = planReminder(policy({ smsEnabled: true }), { startMs: start, sinceMs: since });
  assert.deepEqual(text, { kind: "due", channel: "sms", dueMs: ms("2026-03-03T09:00") });
  // Booked at 13:30 for 14:00: even a text would come less than an hour before.
  assert.deepEqual(
    planReminder(policy({ smsEnabled: true }), {
      startMs: ms("2026-03-03T14:00"),
      sinceMs: ms("2026-03-03T13:30"),
    }),
    { kind: "none", reason: "too_late" },
  );
  assert.equal(MIN_LEAD_MS, 3_600_000);
});

Deno.test("schedule: REMINDERS=sms plans texts at the reminder time", () => {
  assert.deepEqual(
    planReminder(policy({ mode: "sms", smsEnabled: true }), {
      startMs: ms("2026-03-03T10:00"),
      sinceMs: ms("2026-03-01T12:00"),
    }),
    { kind: "due", channel: "sms", dueMs: ms("2026-03-02T10:00") },
  );
});

Deno.test("schedule: after no answer, one retry inside the window, then a text, then nothing", () => {
  const startMs = ms("2026-03-03T10:00");
  const retry = planAfterNoAnswer(policy(), {
    startMs,
    nowMs: ms("2026-03-02T18:30"),
    callsThisRound: 1,
  });
  // 19:30 is past the window: the next morning at 09:00, still an hour before the start.
  assert.equal(
    retry.kind === "due" && `${retry.channel} ${iso(retry.dueMs)}`,
    "call 2026-03-03T09:00:00",
  );
  assert.deepEqual(
    planAfterNoAnswer(policy(), { startMs, nowMs: ms("2026-03-02T18:30"), callsThisRound: 2 }),
    { kind: "none", reason: "too_late" },
    "the retry was used up and no texts",
  );
  const text = planAfterNoAnswer(policy({ smsEnabled: true }), {
    startMs,
    nowMs: ms("2026-03-02T18:30"),
    callsThisRound: 2,
  });
  assert.deepEqual(text, { kind: "due", channel: "sms", dueMs: ms("2026-03-02T18:30") });
  // The retry would not fit before the appointment: straight to the text.
  const tight = planAfterNoAnswer(policy({ smsEnabled: true }), {
    startMs: ms("2026-03-03T09:30"),
    nowMs: ms("2026-03-02T18:30"),
    callsThisRound: 1,
  });
  assert.equal(tight.kind === "due" && tight.channel, "sms");
});

Deno.test("schedule: a late claim waits for the window or gives up", () => {
  const startMs = ms("2026-03-03T15:00");
  assert.deepEqual(checkDue(policy(), { startMs, nowMs: ms("2026-03-03T10:00") }), { kind: "go" });
  assert.deepEqual(checkDue(policy(), { startMs, nowMs: ms("2026-03-03T06:00") }), {
    kind: "wait",
    dueMs: ms("2026-03-03T09:00"),
  });
  assert.deepEqual(checkDue(policy(), { startMs, nowMs: ms("2026-03-03T14:30") }), {
    kind: "none",
    reason: "too_late",
  });
});

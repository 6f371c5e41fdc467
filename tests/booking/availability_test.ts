import assert from "node:assert/strict";
import { type BusinessProfile, findService, type Service } from "../../src/booking/business.ts";
import {
  type BookingInterval,
  DateInputError,
  evaluateStart,
  freeSlots,
  nearestSlots,
  parseDateInput,
  parseStartInput,
  peakOverlap,
  spokenLabel,
  todayInZone,
} from "../../src/booking/availability.ts";
import { MONDAY_7AM, testProfile, testProfileJson } from "./fixtures.ts";

const profile = testProfile();
const service = (p: BusinessProfile, id: string): Service => {
  const s = findService(p, id);
  assert.ok(s, `service ${id}`);
  return s;
};
const mens = service(profile, "mens-cut");
const womens = service(profile, "womens-cut");
const colour = service(profile, "colour");
const date = (s: string) => Temporal.PlainDate.from(s);
const at = (s: string) => Temporal.Instant.from(s);
const booking = (start: string, end: string): BookingInterval => ({
  start: at(start),
  end: at(end),
});
const starts = (
  p: BusinessProfile,
  s: Service,
  d: string,
  now = MONDAY_7AM,
  existing: BookingInterval[] = [],
) => freeSlots({ profile: p, service: s, date: date(d), now, existing }).map((x) => x.start);

/** Every day open 00:00-24:00 style profile for DST and midnight cases. */
function nightProfile(hours: Record<string, { open: string; close: string }[]>, step = 30) {
  const base = testProfileJson();
  return testProfile({
    openingHours: { ...(base.openingHours as Record<string, unknown>), ...hours },
    slotStepMinutes: step,
    closedDates: [],
  });
}

Deno.test("hours and lunch break: 30-min slots fill each range and skip the break", () => {
  const s = starts(profile, mens, "2026-03-03");
  assert.equal(s.length, 11 + 15);
  assert.equal(s[0], "2026-03-03T09:00:00-05:00");
  assert.ok(s.includes("2026-03-03T11:30:00-05:00"), "last morning slot ends exactly at 12:00");
  assert.ok(!s.includes("2026-03-03T11:45:00-05:00"), "would run into the lunch break");
  assert.ok(!s.some((x) => x.includes("T12:")), "no slot during lunch");
  assert.ok(s.includes("2026-03-03T13:00:00-05:00"));
  assert.equal(s.at(-1), "2026-03-03T16:30:00-05:00");
});

Deno.test("end-of-day fit: the whole service duration must fit before the range closes", () => {
  const w = starts(profile, womens, "2026-03-03");
  assert.ok(w.includes("2026-03-03T11:00:00-05:00"));
  assert.ok(!w.includes("2026-03-03T11:15:00-05:00"));
  assert.equal(w.at(-1), "2026-03-03T16:00:00-05:00");
  const c = starts(profile, colour, "2026-03-03");
  assert.equal(c.length, 5 + 9); // 09:00-10:00 and 13:00-15:00 every 15 minutes
  const short = testProfile({
    openingHours: {
      ...(testProfileJson().openingHours as object),
      saturday: [{ open: "10:00", close: "11:00" }],
    },
  });
  assert.deepEqual(starts(short, service(short, "colour"), "2026-03-07"), []);
  assert.equal(starts(short, service(short, "mens-cut"), "2026-03-07").length, 3);
});

Deno.test("closed weekdays and closed dates have no slots", () => {
  assert.deepEqual(starts(profile, mens, "2026-03-02"), [], "Monday has no hours");
  assert.deepEqual(starts(profile, mens, "2026-03-08"), [], "Sunday has no hours");
  assert.deepEqual(starts(profile, mens, "2026-03-06"), [], "Friday is a closed date");
  assert.equal(starts(profile, mens, "2026-03-13").length, 26, "the next Friday is open");
  const verdict = evaluateStart({
    profile,
    service: mens,
    start: parseStartInput("2026-03-06T10:00", profile),
    now: MONDAY_7AM,
    existing: [],
  });
  assert.deepEqual(verdict.ok ? null : [verdict.reason, verdict.message], [
    "closed",
    "Closed that day (Staff training).",
  ]);
});

Deno.test("minimum notice: nothing starts within 120 minutes of now (boundary included)", () => {
  assert.equal(
    starts(profile, mens, "2026-03-03", at("2026-03-03T13:30:00Z"))[0],
    "2026-03-03T10:30:00-05:00",
  );
  assert.equal(
    starts(profile, mens, "2026-03-03", at("2026-03-03T13:00:00Z"))[0],
    "2026-03-03T10:00:00-05:00",
  );
  // At 09:50 the earliest is 11:50: the morning is gone, the afternoon is intact.
  const late = starts(profile, mens, "2026-03-03", at("2026-03-03T14:50:00Z"));
  assert.equal(late[0], "2026-03-03T13:00:00-05:00");
  assert.equal(late.length, 15);
  // A date in the past (zone-wise) has nothing.
  assert.deepEqual(starts(profile, mens, "2026-03-03", at("2026-03-04T12:00:00Z")), []);
});

Deno.test("booking horizon: today + 30 days is the last bookable date", () => {
  assert.equal(starts(profile, mens, "2026-04-01").length, 26, "Wednesday 1 April = today + 30");
  assert.deepEqual(starts(profile, mens, "2026-04-02"), [], "Thursday 2 April is beyond");
  const verdict = evaluateStart({
    profile,
    service: mens,
    start: parseStartInput("2026-04-02T10:00", profile),
    now: MONDAY_7AM,
    existing: [],
  });
  assert.equal(verdict.ok ? "ok" : verdict.reason, "beyond_horizon");
});

Deno.test("capacity: a start is taken only when `capacity` bookings run at once somewhere in it", () => {
  const two = [
    booking("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z"), // 10:00-10:30 local
    booking("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z"),
  ];
  const m = starts(profile, mens, "2026-03-03", MONDAY_7AM, two);
  assert.ok(!m.includes("2026-03-03T10:00:00-05:00"));
  assert.ok(!m.includes("2026-03-03T10:15:00-05:00"));
  assert.ok(m.includes("2026-03-03T09:30:00-05:00"), "ends as they start");
  assert.ok(m.includes("2026-03-03T10:30:00-05:00"), "starts as they end");
  const w = starts(profile, womens, "2026-03-03", MONDAY_7AM, two);
  assert.ok(!w.includes("2026-03-03T09:45:00-05:00"), "a 60-min service overlapping both");

  // Back-to-back bookings never run together: a 60-min start over both is still free.
  const chained = [
    booking("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z"),
    booking("2026-03-03T15:30:00Z", "2026-03-03T16:00:00Z"),
  ];
  assert.ok(
    starts(profile, womens, "2026-03-03", MONDAY_7AM, chained).includes(
      "2026-03-03T10:00:00-05:00",
    ),
  );
  // Staggered overlap 10:15-10:30 reaches 2: 10:00 is taken, 10:30 only meets one of them.
  const staggered = [
    booking("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z"),
    booking("2026-03-03T15:15:00Z", "2026-03-03T15:45:00Z"),
  ];
  const s = starts(profile, womens, "2026-03-03", MONDAY_7AM, staggered);
  assert.ok(!s.includes("2026-03-03T10:00:00-05:00"));
  assert.ok(!s.includes("2026-03-03T09:30:00-05:00"), "09:30-10:30 contains 10:15-10:30");
  assert.ok(s.includes("2026-03-03T10:30:00-05:00"));
  assert.equal(peakOverlap(staggered, at("2026-03-03T14:00:00Z"), at("2026-03-03T17:00:00Z")), 2);
  assert.equal(peakOverlap(chained, at("2026-03-03T14:00:00Z"), at("2026-03-03T17:00:00Z")), 1);
});

Deno.test("DST spring forward (8 March 2026): the missing hour has no slots, offsets change", () => {
  const p = nightProfile({ sunday: [{ open: "00:00", close: "06:00" }] });
  const now = at("2026-03-01T12:00:00Z");
  const s = starts(p, service(p, "mens-cut"), "2026-03-08", now);
  assert.deepEqual(s, [
    "2026-03-08T00:00:00-05:00",
    "2026-03-08T00:30:00-05:00",
    "2026-03-08T01:00:00-05:00",
    "2026-03-08T01:30:00-05:00",
    "2026-03-08T03:00:00-04:00",
    "2026-03-08T03:30:00-04:00",
    "2026-03-08T04:00:00-04:00",
    "2026-03-08T04:30:00-04:00",
    "2026-03-08T05:00:00-04:00",
    "2026-03-08T05:30:00-04:00",
  ]);
  const slot = freeSlots({
    profile: p,
    service: service(p, "mens-cut"),
    date: date("2026-03-08"),
    now,
    existing: [],
  })[3];
  assert.equal(slot.end, "2026-03-08T03:00:00-04:00", "01:30 + 30 real minutes is 03:00 EDT");
  assert.throws(() => parseStartInput("2026-03-08T02:30", p), DateInputError);
  // The 60-minute service still fits in 5 real hours; 04:30 EDT is its last start.
  const w = starts(p, service(p, "womens-cut"), "2026-03-08", now);
  assert.equal(w.at(-1), "2026-03-08T05:00:00-04:00");
  assert.equal(w.length, 9);
});

Deno.test("DST fall back (1 November 2026): the repeated hour gives two distinct slots", () => {
  const p = nightProfile({ sunday: [{ open: "00:00", close: "04:00" }] });
  const now = at("2026-10-25T12:00:00Z");
  const mensCut = service(p, "mens-cut");
  const slots = freeSlots({
    profile: p,
    service: mensCut,
    date: date("2026-11-01"),
    now,
    existing: [],
  });
  assert.deepEqual(slots.map((x) => x.start), [
    "2026-11-01T00:00:00-04:00",
    "2026-11-01T00:30:00-04:00",
    "2026-11-01T01:00:00-04:00",
    "2026-11-01T01:30:00-04:00",
    "2026-11-01T01:00:00-05:00",
    "2026-11-01T01:30:00-05:00",
    "2026-11-01T02:00:00-05:00",
    "2026-11-01T02:30:00-05:00",
    "2026-11-01T03:00:00-05:00",
    "2026-11-01T03:30:00-05:00",
  ]);
  assert.equal(slots[2].label, "Sunday 1 November at 1:00 AM");
  // Two bookings in the first 1:00 AM do not block the second one, an hour later.
  const first = [
    booking("2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"),
    booking("2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"),
  ];
  const s = starts(p, mensCut, "2026-11-01", now, first);
  assert.ok(!s.includes("2026-11-01T01:00:00-04:00"));
  assert.ok(s.includes("2026-11-01T01:00:00-05:00"));
  // An offset-less 01:30 means the first one; an offset picks either.
  assert.equal(parseStartInput("2026-11-01T01:30", p).offset, "-04:00");
  assert.equal(
    parseStartInput("2026-11-01T01:30:00-05:00", p).toInstant().toString(),
    "2026-11-01T06:30:00Z",
  );
});

Deno.test("midnight: a range closing at 24:00 fits services up to midnight, never across it", () => {
  const p = nightProfile({
    friday: [{ open: "18:00", close: "24:00" }],
    saturday: [{ open: "00:00", close: "02:00" }],
  }, 15);
  const w = service(p, "womens-cut");
  const fri = starts(p, w, "2026-03-13");
  assert.equal(fri[0], "2026-03-13T18:00:00-04:00");
  assert.equal(fri.at(-1), "2026-03-13T23:00:00-04:00", "ends exactly at midnight");
  const sat = starts(p, w, "2026-03-14");
  assert.equal(sat[0], "2026-03-14T00:00:00-04:00");
  assert.equal(sat.at(-1), "2026-03-14T01:00:00-04:00");
  const verdict = evaluateStart({
    profile: p,
    service: w,
    start: parseStartInput("2026-03-13T23:30", p),
    now: MONDAY_7AM,
    existing: [],
  });
  assert.equal(verdict.ok ? "ok" : verdict.reason, "outside_hours");
});

Deno.test("today is the business zone's date, not the server's or UTC's", () => {
  // 03:00 UTC on 3 March is still 22:00 on Monday 2 March in New York.
  const now = at("2026-03-03T03:00:00Z");
  assert.equal(todayInZone(profile, now).toString(), "2026-03-02");
  assert.equal(parseDateInput("today", profile, now).toString(), "2026-03-02");
  assert.equal(parseDateInput("tomorrow", profile, now).toString(), "2026-03-03");
  const tokyo = testProfile({ timeZone: "Asia/Tokyo" });
  assert.equal(todayInZone(tokyo, at("2026-03-02T16:00:00Z")).toString(), "2026-03-03");
});

Deno.test("evaluateStart names the reason a start cannot be booked", () => {
  const check = (start: string, existing: BookingInterval[] = [], now = MONDAY_7AM) => {
    const v = evaluateStart({
      profile,
      service: mens,
      start: parseStartInput(start, profile),
      now,
      existing,
    });
    return v.ok ? "ok" : v.reason;
  };
  assert.equal(check("2026-03-03T10:00"), "ok");
  assert.equal(check("2026-03-02T06:00"), "in_past");
  assert.equal(check("2026-03-03T10:00", [], at("2026-03-03T14:00:00Z")), "too_soon");
  assert.equal(check("2026-03-03T11:45"), "outside_hours");
  assert.equal(check("2026-03-03T12:15"), "outside_hours");
  assert.equal(check("2026-03-03T08:30"), "outside_hours");
  assert.equal(check("2026-03-03T10:05"), "off_grid");
  const full = [
    booking("2026-03-03T15:00:00Z", "2026-03-03T16:00:00Z"),
    booking("2026-03-03T15:20:00Z", "2026-03-03T15:40:00Z"),
  ];
  assert.equal(check("2026-03-03T10:15", full), "full");
});

Deno.test("nearestSlots offers the closest free times, or the next open day's first ones", () => {
  const full = [
    booking("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z"),
    booking("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z"),
  ];
  const near = nearestSlots({
    profile,
    service: mens,
    wanted: parseStartInput("2026-03-03T10:00", profile),
    now: MONDAY_7AM,
    existingOn: (d) => d.toString() === "2026-03-03" ? full : [],
  });
  // 09:45 would run into the full 10:00; 09:15 and 10:45 tie at 45 minutes, earlier wins.
  assert.deepEqual(near.map((s) => s.start), [
    "2026-03-03T09:15:00-05:00",
    "2026-03-03T09:30:00-05:00",
    "2026-03-03T10:30:00-05:00",
  ]);
  const holiday = nearestSlots({
    profile,
    service: mens,
    wanted: parseStartInput("2026-03-06T10:00", profile),
    now: MONDAY_7AM,
    existingOn: () => [],
  });
  assert.deepEqual(holiday.map((s) => s.start), [
    "2026-03-07T10:00:00-05:00",
    "2026-03-07T10:15:00-05:00",
    "2026-03-07T10:30:00-05:00",
  ]);
});

Deno.test("spoken labels are unambiguous and speech-friendly", () => {
  const z = Temporal.ZonedDateTime.from("2026-11-26T15:00:00-05:00[America/New_York]");
  assert.equal(spokenLabel(z, "en-US"), "Thursday 26 November at 3:00 PM");
  assert.equal(
    spokenLabel(z.with({ hour: 9, minute: 5 }), "en-GB"),
    "Thursday 26 November at 9:05",
  );
  const fr = spokenLabel(z, "fr-FR");
  assert.match(fr, /jeudi 26 novembre/);
  assert.match(fr, /15:00/);
});

Deno.test("parsing model-provided dates and starts", () => {
  const z = (s: string) => parseStartInput(s, profile).toString();
  assert.equal(z("2026-11-26T15:00:00-05:00"), "2026-11-26T15:00:00-05:00[America/New_York]");
  assert.equal(z("2026-11-26T20:00:00Z"), "2026-11-26T15:00:00-05:00[America/New_York]");
  assert.equal(z("2026-11-26T15:00"), "2026-11-26T15:00:00-05:00[America/New_York]");
  assert.equal(z("2026-11-26 15:00"), "2026-11-26T15:00:00-05:00[America/New_York]");
  assert.equal(
    z("2026-11-26T21:00:00+01:00[Europe/Paris]"),
    "2026-11-26T15:00:00-05:00[America/New_York]",
  );
  for (const bad of ["tomorrow at 3", "2026-11-26", "2026-13-01T10:00", "15:00"]) {
    assert.throws(() => parseStartInput(bad, profile), DateInputError, bad);
  }
  assert.equal(parseDateInput("2026-11-26", profile, MONDAY_7AM).toString(), "2026-11-26");
  assert.equal(
    parseDateInput("2026-11-26T23:30:00-05:00", profile, MONDAY_7AM).toString(),
    "2026-11-26",
  );
  assert.equal(
    parseDateInput("2026-11-27T03:30:00Z", profile, MONDAY_7AM).toString(),
    "2026-11-26",
  );
  assert.throws(() => parseDateInput("2026-02-30", profile, MONDAY_7AM), DateInputError);
  assert.throws(() => parseDateInput("next week", profile, MONDAY_7AM), DateInputError);
});

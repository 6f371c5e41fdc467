import assert from "node:assert/strict";
import {
  BusinessProfileError,
  DEFAULT_BUSINESS_FILE,
  findService,
  loadBusinessProfile,
  parseBusinessProfile,
} from "../../src/booking/business.ts";
import { testProfile, testProfileJson } from "./fixtures.ts";

function problemsOf(value: unknown): string[] {
  try {
    parseBusinessProfile(value, "test");
  } catch (err) {
    assert.ok(err instanceof BusinessProfileError);
    return err.problems;
  }
  assert.fail("expected the profile to be rejected");
}

Deno.test("the bundled example salon loads and is sensible", () => {
  const p = loadBusinessProfile(DEFAULT_BUSINESS_FILE);
  assert.equal(p.timeZone, "America/New_York");
  assert.equal(p.capacity, 2);
  assert.equal(p.slotStepMinutes, 15);
  assert.equal(p.minNoticeMinutes, 120);
  assert.equal(p.bookingHorizonDays, 60);
  assert.deepEqual(p.openingHours.monday, []);
  assert.equal(p.openingHours.tuesday.length, 2, "Tuesday has a lunch break");
  assert.ok(p.services.length >= 4);
  assert.ok(p.closedDates.length >= 2);
  assert.ok(p.greeting.length > 10);
});

Deno.test("a broken profile lists every problem with its JSON path", () => {
  const raw = testProfileJson();
  const services = structuredClone(raw.services) as Record<string, unknown>[];
  services[2].durationMinutes = -30;
  services[1].currency = "usd";
  services.push({ ...services[0] }); // duplicate id
  const problems = problemsOf({
    ...raw,
    services,
    timeZone: "Mars/Olympus",
    capacity: 0,
    openingHours: {
      ...(raw.openingHours as object),
      tuesday: [{ open: "09:00", close: "08:00" }, { open: "07:00", close: "25:00" }],
    },
    closedDates: [{ date: "2026-02-30" }],
    extraField: true,
  });
  assert.deepEqual(
    problems.sort(),
    [
      'closedDates[0].date: expected a date "YYYY-MM-DD"',
      "openingHours.tuesday[0].close: must be after open",
      'openingHours.tuesday[1].close: expected a time "HH:MM" (00:01-24:00)',
      "services[1].currency: expected an ISO 4217 code like USD",
      "services[2].durationMinutes: expected a positive integer",
      "services[3].id: duplicate id (also services[0])",
      'timeZone: expected an IANA time zone like "America/New_York"',
      "capacity: expected a positive integer (appointments that can overlap)",
      'unknown field(s) "extraField"',
    ].sort(),
  );
});

Deno.test("loadBusinessProfile reports unreadable files and bad JSON with the file name", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const bad = `${dir}/bad.json`;
    Deno.writeTextFileSync(bad, '{ "name": ');
    assert.throws(() => loadBusinessProfile(bad), (err: Error) => {
      assert.ok(err instanceof BusinessProfileError);
      assert.match(err.message, /bad\.json/);
      assert.match(err.message, /not valid JSON/);
      return true;
    });
    assert.throws(() => loadBusinessProfile(`${dir}/missing.json`), /cannot read file/);
    const partial = `${dir}/partial.json`;
    const raw = testProfileJson();
    delete raw.greeting;
    Deno.writeTextFileSync(partial, JSON.stringify(raw));
    assert.throws(() => loadBusinessProfile(partial), /greeting: expected a greeting line/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("overlapping or unordered opening ranges are rejected", () => {
  const raw = testProfileJson();
  const problems = problemsOf({
    ...raw,
    openingHours: {
      ...(raw.openingHours as object),
      friday: [{ open: "09:00", close: "13:00" }, { open: "12:00", close: "17:00" }],
    },
  });
  assert.deepEqual(problems, [
    "openingHours.friday[1].open: ranges must be in order and must not overlap",
  ]);
});

Deno.test("findService matches id, name and aliases ignoring case and punctuation", () => {
  const p = testProfile();
  assert.equal(findService(p, "mens-cut")?.id, "mens-cut");
  assert.equal(findService(p, "Men's Cut")?.id, "mens-cut");
  assert.equal(findService(p, "mens cut")?.id, "mens-cut");
  assert.equal(findService(p, "GENTS CUT")?.id, "mens-cut");
  assert.equal(findService(p, "Ladies' cut")?.id, "womens-cut");
  assert.equal(findService(p, "color")?.id, "colour");
  assert.equal(findService(p, "perm"), undefined);
  assert.equal(findService(p, "  "), undefined);
});

import { evaluateStart, freeSlots, parseStartInput } from "../../src/booking/availability.ts";
import { findService } from "../../src/booking/business.ts";
import { MONDAY_7AM, testProfile } from "./fixtures.ts";

const profile = testProfile();
const mens = findService(profile, "mens-cut")!;
const date = Temporal.PlainDate.from("2026-03-03");
const busy = Array.from({ length: 20 }, (_, i) => ({
  start: Temporal.Instant.from("2026-03-03T14:00:00Z").add({ minutes: i * 15 }),
  end: Temporal.Instant.from("2026-03-03T14:30:00Z").add({ minutes: i * 15 }),
}));

Deno.bench("freeSlots: one open day, no bookings (26 slots)", () => {
  freeSlots({ profile, service: mens, date, now: MONDAY_7AM, existing: [] });
});

Deno.bench("freeSlots: one open day, 20 overlapping bookings", () => {
  freeSlots({ profile, service: mens, date, now: MONDAY_7AM, existing: busy });
});

Deno.bench("evaluateStart: one requested start", () => {
  evaluateStart({
    profile,
    service: mens,
    start: parseStartInput("2026-03-03T10:00", profile),
    now: MONDAY_7AM,
    existing: busy,
  });
});

/**
 * Shared test fixtures for the booking domain: a small salon profile with known hours and
 * a controllable clock.
 *
 * @module
 */
import { type BusinessProfile, parseBusinessProfile } from "../../src/booking/business.ts";

/** Raw JSON of the test salon (America/New_York, capacity 2, step 15, notice 120, horizon 30). */
export function testProfileJson(): Record<string, unknown> {
  return {
    name: "Test Salon",
    phone: "+1 212 555 0100",
    address: "1 Test Street, New York, NY",
    timeZone: "America/New_York",
    locale: "en-US",
    language: "en",
    greeting: "Hello, Test Salon.",
    openingHours: {
      monday: [],
      tuesday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      wednesday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      thursday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      friday: [{ open: "09:00", close: "12:00" }, { open: "13:00", close: "17:00" }],
      saturday: [{ open: "10:00", close: "14:00" }],
      sunday: [],
    },
    closedDates: [{ date: "2026-03-06", reason: "Staff training" }],
    services: [
      {
        id: "mens-cut",
        name: "Men's cut",
        aliases: ["gents cut"],
        durationMinutes: 30,
        price: 40,
        currency: "USD",
      },
      {
        id: "womens-cut",
        name: "Women's cut",
        aliases: ["ladies cut"],
        durationMinutes: 60,
        price: 75,
        currency: "USD",
      },
      {
        id: "colour",
        name: "Colour",
        aliases: ["color"],
        durationMinutes: 120,
        price: 140,
        currency: "USD",
      },
    ],
    capacity: 2,
    slotStepMinutes: 15,
    minNoticeMinutes: 120,
    bookingHorizonDays: 30,
    policies: { cancellation: "24 hours notice please.", payment: "Cards or cash." },
  };
}

/** The test salon, validated. `patch` replaces top-level fields. */
export function testProfile(patch: Record<string, unknown> = {}): BusinessProfile {
  return parseBusinessProfile({ ...testProfileJson(), ...patch }, "test profile");
}

/** Monday 2 March 2026, 07:00 in New York (12:00 UTC). */
export const MONDAY_7AM = Temporal.Instant.from("2026-03-02T12:00:00Z");

/** A clock tests can move. */
export class TestClock {
  /** Current instant. */
  current: Temporal.Instant;
  /** Starts at `start`. */
  constructor(start: Temporal.Instant = MONDAY_7AM) {
    this.current = start;
  }
  /** The clock function to hand to a store. */
  readonly now = (): Temporal.Instant => this.current;
  /** Moves the clock forward. */
  advance(d: Temporal.DurationLike): void {
    this.current = this.current.add(d);
  }
}

/**
 * Requests the race tests send many times at once: overlapping services and starts, so
 * the check is about overlap, not equal starts. Wednesday 14:00 must end up booked to
 * capacity exactly.
 */
export const RACE_REQUESTS: readonly { serviceId: string; start: string }[] = [
  { serviceId: "mens-cut", start: "2026-03-03T10:00" },
  { serviceId: "womens-cut", start: "2026-03-03T10:15" },
  { serviceId: "mens-cut", start: "2026-03-03T10:30" },
  { serviceId: "colour", start: "2026-03-03T09:00" },
  { serviceId: "mens-cut", start: "2026-03-03T11:00" },
  { serviceId: "womens-cut", start: "2026-03-04T14:00" },
];

/**
 * Most intervals running at one instant (half-open: an end and a start at the same instant
 * do not overlap). Written independently of the store's own check, to verify it.
 */
export function peakOverlap(intervals: { startMs: number; endMs: number }[]): number {
  const events = intervals.flatMap((r) => [[r.startMs, 1], [r.endMs, -1]] as [number, number][])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]); // ends before starts at the same instant
  let n = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, n += d);
  return max;
}
